"""Live configuration: the current snapshot, and the watcher that replaces it.

`ConfigStore.config` is the snapshot requests read (one attribute read per request). `reload()`
re-reads ekai.yaml and the price tables; when their bytes are unchanged it does nothing, when the
new config is valid it swaps the reference, and when it is not it keeps the old one and records
the error (logged, and shown on /health). Each worker process runs its own watcher, so an edit
reaches every worker without any cross-process messaging.

The watcher watches the FOLDERS holding the files, not the files: editors save by writing a new
file and renaming it over the old one, after which a watch on the old file sees nothing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path

from watchfiles import watch

from gateway.config import Config, ConfigError, load_config

log = logging.getLogger("ekai.config")


class ConfigStore:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.path = config.path
        self.loaded_at = config.loaded_at
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.reloads = 0  # applied reloads, and refused ones (gateway.metrics reads both)
        self.reload_errors = 0
        self._fingerprint = self._read_fingerprint(config)

    @staticmethod
    def _read_fingerprint(config: Config) -> str:
        digest = hashlib.sha256()
        for file in config.watched_files:
            try:
                digest.update(file.read_bytes())
            except OSError:
                digest.update(b"\x00missing")
        return digest.hexdigest()

    def reload(self) -> bool:
        """Re-read the files; swap in the new config if valid. True when the config changed."""
        try:
            shape = self.config
            for _attempt in range(3):  # an edit landing while the files are read would pair
                before = self._read_fingerprint(shape)  # old content with a new digest (and the
                config = load_config(self.path)  # reload it triggers would then see no change):
                if self._read_fingerprint(config) == before:  # read until the bytes held still
                    break
                shape = config
        except ConfigError as exc:
            message = "; ".join(exc.problems)
            if message != self.last_error:
                log.error("config not applied, the last good one keeps serving: %s", message)
            self.last_error, self.last_error_at = message, time.time()
            self.reload_errors += 1
            return False
        except Exception as exc:  # never let a reload kill the watcher
            log.exception("config reload failed")
            self.last_error, self.last_error_at = f"{type(exc).__name__}: {exc}", time.time()
            self.reload_errors += 1
            return False
        self.last_error = None
        self.last_error_at = None
        if config.digest == self.config.digest and config.env_fingerprint == self.config.env_fingerprint:
            return False  # (the .env file is compared by a salted fingerprint: it holds secrets)
        old = self.config
        self.config = config
        self.loaded_at = config.loaded_at
        self.reloads += 1
        log.info(
            "config reloaded (digest %s -> %s): %d providers, %d aliases, %d priced models",
            old.digest,
            config.digest,
            len(config.providers),
            len(config.aliases),
            sum(len(t) for t in config.prices.values()),
        )
        return True

    def watch_dirs(self) -> set[Path]:
        return {f.parent for f in self.config.watched_files} | {self.path.parent}

    def watched_names(self) -> set[str]:
        """File names worth a reload (the usage database may share the folder: its WAL writes
        must cost the watcher no more than a string comparison)."""
        return {f.name for f in self.config.watched_files}

    def status(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "digest": self.config.digest,
            "loaded_at": _iso(self.loaded_at),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at) if self.last_error_at else None,
        }


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def start_watching(store: ConfigStore, stop: threading.Event, *, debounce_ms: int = 300) -> threading.Thread:
    """Reload the config whenever a watched file changes, until `stop` is set.

    Runs in a daemon thread of its own (watchfiles' blocking iterator): reading and validating
    the files never blocks the event loop, and swapping `store.config` is one reference
    assignment, which requests on the loop see atomically.
    """

    def run() -> None:
        while not stop.is_set():
            dirs = store.watch_dirs()
            names = store.watched_names()

            armed = [False]  # set by the first event or quiet timeout: the watch is live from then on

            def relevant(
                _change: object, path: str, names: set[str] = names, armed: list[bool] = armed
            ) -> bool:
                if not armed[0]:  # any first event (the usage database's, say) proves the watch is
                    armed[0] = True  # live: let it through, so the loop below reloads once
                    return True
                name = path.rpartition("/")[2]
                return name in names or name.endswith((".yaml", ".yml"))

            try:
                for changes in watch(
                    *dirs,
                    watch_filter=relevant,
                    debounce=debounce_ms,
                    step=50,
                    stop_event=stop,
                    recursive=False,
                    rust_timeout=500,
                    yield_on_timeout=True,
                    raise_interrupt=False,
                ):
                    # Once the watch is live, reload once: an edit made between this worker's load
                    # and its watch starting was seen by no one (a no-op when nothing changed).
                    if not changes:  # a quiet timeout
                        if armed[0]:
                            continue
                        armed[0] = True
                    if store.reload() and store.watch_dirs() != dirs:
                        break  # the set of files changed: watch the new folders
            except Exception:
                log.exception("config watcher failed; retrying in 1 s")
                stop.wait(1)

    thread = threading.Thread(target=run, name="ekai-config-watch", daemon=True)
    thread.start()
    return thread
