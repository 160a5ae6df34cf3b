"""``python -m stridewise``: the CLI, with the source checkout on the path (the
demo and ``stridewise sandbox`` need the provider fakes, which ship in no wheel)."""

from stridewise.cli.main import run

run()
