"""The Hub client seam: repo ids checked before any call, and the client's failures as one-line errors."""

from __future__ import annotations

from contextlib import contextmanager

from tvgbench.core.errors import Timer1Error

REPO_TYPE = "dataset"


def check_repo_id(repo_id: str) -> str:
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(repo_id)
    except Exception as e:  # HFValidationError: a user typo, never a bug
        raise Timer1Error(f"invalid repo id {repo_id!r}: {str(e).splitlines()[0]}") from None
    if repo_id.count("/") != 1:
        raise Timer1Error(f"repo id must look like ORG/NAME, got {repo_id!r}")
    return repo_id


@contextmanager
def hub_errors(action: str):
    """Turn the Hub client's failures into one line: no token, rejected token, offline, unreachable."""
    import httpx
    from huggingface_hub.errors import (
        HfHubHTTPError, LocalEntryNotFoundError, OfflineModeIsEnabled, RepositoryNotFoundError, RevisionNotFoundError,
    )

    try:
        yield
    except OfflineModeIsEnabled:
        raise Timer1Error(f"cannot {action}: offline mode is on (HF_HUB_OFFLINE=1)") from None
    except RepositoryNotFoundError:
        raise Timer1Error(f"cannot {action}: repository not found, or your token has no access to it") from None
    except RevisionNotFoundError:
        raise Timer1Error(f"cannot {action}: no such revision") from None
    except LocalEntryNotFoundError as e:
        offline = "offline" in str(e).lower() or "HF_HUB_OFFLINE" in str(e)
        why = ("offline mode is on (HF_HUB_OFFLINE=1) and nothing is cached" if offline
               else "the Hub is unreachable and nothing is cached")
        raise Timer1Error(f"cannot {action}: {why}; download elsewhere and use --from-dir DIR") from None
    except HfHubHTTPError as e:
        status = getattr(getattr(e, "response", None), "status_code", None)
        if status in (401, 403):
            raise Timer1Error(f"cannot {action}: the Hub refused the token (HTTP {status}); "
                              "run `hf auth login` or set HF_TOKEN") from None
        raise Timer1Error(f"cannot {action}: {str(e).splitlines()[0]}") from None
    except (httpx.TransportError, ConnectionError) as e:
        raise Timer1Error(f"cannot {action}: the Hub is unreachable ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else 'no detail'})") from None
