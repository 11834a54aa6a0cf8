"""Seeds are fingerprinted at start and again when their files change, and only then."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from monitor.core.fingerprint import fingerprint
from monitor.core.normalize import normalize_text
from monitor.store import db, dedupe
from monitor.store.models import FingerprintBand, Seed

NOW = datetime(2026, 11, 22, tzinfo=UTC)
SEEDS = Path(__file__).resolve().parents[1] / "config" / "seeds"


def test_seed_files_are_synced_when_they_change(tmp_path: Path, db_url: str) -> None:
    folder = tmp_path / "seeds"
    folder.mkdir()
    for path in SEEDS.glob("*.txt"):
        (folder / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    engine = db.make_engine(db_url)
    sessions = db.session_factory(engine)
    try:
        db.upgrade(engine)
        with sessions.begin() as session:
            assert dedupe.sync_seeds(session, dedupe.read_seed_files(folder), NOW) == 2
        with sessions.begin() as session:  # nothing changed: nothing is redone
            assert dedupe.sync_seeds(session, dedupe.read_seed_files(folder), NOW) == 0

        first = sorted(folder.glob("*.txt"))[0]
        new_text = "A different seed article about Stargate data centres in Texas. " * 20
        first.write_text(new_text, encoding="utf-8")
        (folder / "999_added.txt").write_text("An added seed about H20 export licences. " * 20)
        sorted(folder.glob("*.txt"))[1].unlink()
        with sessions.begin() as session:
            assert dedupe.sync_seeds(session, dedupe.read_seed_files(folder), NOW) == 3
        with sessions() as session:
            seeds = {seed.id: seed for seed in session.scalars(select(Seed))}
            assert sorted(seeds) == sorted([first.stem, "999_added"])
            assert seeds[first.stem].text == new_text
            stored = sorted(
                session.scalars(
                    select(FingerprintBand.hash).where(FingerprintBand.seed_id == first.stem)
                )
            )
            assert stored == sorted(fingerprint(normalize_text(new_text)).bands)
            total = session.scalar(select(func.count()).select_from(FingerprintBand))
            assert total == 2 * len(fingerprint(normalize_text(new_text)).bands)
    finally:
        engine.dispose()
