"""A hub dataset name, resolved to the hub or to the cached copy of that very dataset.

One metadata request tells whether the hub answers (and pins the revision it serves). When
it does not (no network, or offline mode), the dataset is read from the Hugging Face hub
cache's snapshot of that repository, where `datasets` keeps the files it downloaded, and the
corpus says so in a note. Never from anything else: the `datasets` library's own offline
fallback looks its cache up by bare name, which also holds local folders loaded under that
name, and it retries an unreachable hub for many seconds first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tagger.errors import TaggerError

# Seconds the metadata request may take: enough for a slow link, short enough that a missing
# network is known quickly.
HUB_TIMEOUT = 10.0


@dataclass(frozen=True)
class HubDataset:
    """What to load: `location` is the hub name or a cached snapshot folder; `note` says
    which copy when it is the cache."""

    location: str
    revision: str | None
    note: str | None = None


def resolve(name: str, revision: str | None = None) -> HubDataset:
    """The hub dataset `name` (at `revision`), on the hub or in the hub cache; a
    `TaggerError` naming what to do when neither has it."""
    import datasets
    from huggingface_hub import HfApi, errors

    unreachable = "offline mode is on (HF_HUB_OFFLINE or HF_DATASETS_OFFLINE)" \
        if datasets.config.HF_HUB_OFFLINE else None
    if unreachable is None:
        try:
            info = HfApi().dataset_info(name, revision=revision, timeout=HUB_TIMEOUT)
        except errors.HFValidationError:
            raise TaggerError(f"`dataset` {name!r} is no local file or folder, nor a hub "
                              "dataset name (NAME or OWNER/NAME)", param="dataset") from None
        except errors.GatedRepoError:  # it exists; loading it explains how to get access
            return HubDataset(name, revision)
        except errors.RevisionNotFoundError:
            raise TaggerError(f"hub dataset {name!r} has no revision {revision!r}; check "
                              "`revision`", param="revision") from None
        except errors.RepositoryNotFoundError:
            raise TaggerError(f"`dataset` {name!r} is no local file or folder, and the hub has "
                              "no such dataset (or it is private: log in with `hf auth "
                              "login`)", param="dataset") from None
        except Exception as error:  # no network, DNS, proxy, timeout: the cache may have it
            text = str(error).strip()
            unreachable = text.splitlines()[0] if text else type(error).__name__
        else:
            return HubDataset(name, info.sha)
    snapshot = cached_snapshot(name, revision)
    if snapshot is None:
        raise TaggerError(f"`dataset` {name!r} is no local file or folder, the hub cannot be "
                          f"reached ({unreachable}), and no copy of it is cached: connect to "
                          "the network once, or give a local folder or files", param="dataset")
    return HubDataset(str(snapshot), snapshot.name,
                      f"the hub cannot be reached ({unreachable}); using the cached copy of "
                      f"{name} at revision {snapshot.name[:12]}")


def cached_snapshot(name: str, revision: str | None = None) -> Path | None:
    """The hub cache's snapshot folder of dataset `name` at `revision` (a branch, tag or
    commit; default the main branch), if the cache has it."""
    from huggingface_hub import constants

    repository = Path(constants.HF_HUB_CACHE) / f"datasets--{name.replace('/', '--')}"
    snapshots = repository / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repository / "refs" / (revision or "main")
    if ref.is_file():
        folder = snapshots / ref.read_text(encoding="utf-8").strip()
        return folder if folder.is_dir() else None
    if revision:  # a commit, or its first characters
        matches = [p for p in snapshots.iterdir() if p.name.startswith(revision)]
        return matches[0] if len(matches) == 1 else None
    return None
