"""Tasks the worker tests enqueue: each leaves a trace a test can count (a line in a file)."""

from django.tasks import task


@task
def append_line(path: str, text: str) -> str:
    """Append ``text`` as a line to the file at ``path``; one line per run of the task."""
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(text + "\n")
    return text
