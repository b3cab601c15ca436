import io

from tagger.apps import batch
from tagger.progress import Progress


def test_file_progress_shows_rate_and_eta(demo_tagger, tmp_path):
    source_file = tmp_path / "in.txt"
    source_file.write_text("Mei Lin met Jonas Weber in Oslo.\n" * 50, encoding="utf-8")
    log = io.StringIO()
    progress = Progress(stream=log, interval=0, log_interval=0)
    source = batch.open_input(str(source_file), None)
    assert source.size == source_file.stat().st_size

    records = batch.tag_file(demo_tagger, source, str(tmp_path / "out.jsonl"), "json",
                             progress=progress)

    assert records == 50
    status = log.getvalue().splitlines()
    assert any("tokens/s  ETA 0:00:0" in line for line in status)
    assert status[-1].startswith("tagged 50 records, 400 tokens in ")


def test_stdin_progress_has_no_eta(demo_tagger, tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"Oslo.\n" * 5)))
    log = io.StringIO()
    source = batch.open_input("-", None)
    assert source.size is None
    batch.tag_file(demo_tagger, source, str(tmp_path / "out.jsonl"), "json",
                   progress=Progress(stream=log, interval=0, log_interval=0))
    assert "records" in log.getvalue() and "ETA" not in log.getvalue()
