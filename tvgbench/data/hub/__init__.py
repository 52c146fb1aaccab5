"""Publish split folders to the Hugging Face Hub and download official or published data.

- ``plan``: the repo layout and what a publish uploads (which videos go into which tar shard, sizes);
- ``staging``: everything laid out locally first, video tar shards reused when already packed;
- ``publishing``: shard commits (resumable), then one atomic annotations commit;
- ``downloading``: ``snapshot_download`` or ``--from-dir``, then ingest or copy into canonical splits;
- ``extract``: safe, resumable unpacking of tar and zip archives;
- ``client``: repo-id checks and the Hub client's failures as one-line errors.

``huggingface_hub`` is imported where it is used: its ``HfApi`` costs about 0.3 s to import.
"""

from tvgbench.data.hub.downloading import DownloadResult, download
from tvgbench.data.hub.publishing import PublishOptions, PublishResult, publish

__all__ = ["DownloadResult", "PublishOptions", "PublishResult", "download", "publish"]
