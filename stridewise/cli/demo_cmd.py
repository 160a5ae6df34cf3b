"""``stridewise demo``: build the demo clinic and show what it holds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import typer

from stridewise.cli.common import console, current_app, require_sandbox
from stridewise.settings import with_overrides


def demo_cmd(
    database: Path = typer.Option(
        Path("stridewise-demo.db"), "--database", help="SQLite file to (re)create for the demo."
    ),
) -> None:
    """Build a demo clinic from nothing (SQLite, loopback sandboxes) and show it.

    CSV imports, a Fitbit and a Garmin patient linked and synced against the loopback
    sandboxes, and five patient stories judged by the rules; prints each patient's last
    14 days and the alerts raised.

    Example: stridewise demo
    """
    require_sandbox()
    from stridewise.demo import clinic as demo
    from stridewise.demo import stories

    configured = current_app().settings
    key = demo.demo_secret_key(Path(".stridewise-demo-key"))
    settings = with_overrides(
        configured,
        {
            "secret_key": configured.secret_key or key,
            "database_url": f"sqlite:///{database}",
        },
    )
    now = datetime.now(UTC)
    factory = demo.fresh_database(database)
    demo.seed_clinic(factory)
    console.rule("Steps in")
    console.print(f"demo database: {database}")
    written = demo.seed_csv_steps(factory, now)
    console.print(f"imported {written:,} minute intervals for the CSV patients")
    demo.link_and_sync(factory, settings, console)
    demo.show_days(
        factory, console, now, [p[0] for p in demo.CSV_PATIENTS + demo.PROVIDER_PATIENTS]
    )

    console.rule("Rules: five patient stories")
    today = now.date()
    stories.seed_stories(factory, today, demo.THERAPIST[0])
    stories.evaluate_stories(factory, today)
    stories.show_stories(factory, console, today)

    console.rule("Delivery: the weekly report and the week's messages")
    from stridewise.demo.delivery import deliver_week

    deliver_week(factory, settings, console, demo.THERAPIST[0], now, Path("demo-out"))

    console.rule("Therapists: the caseload in a browser (run stridewise serve, below)")
    demo.open_for_therapists(factory, console, settings.public_url)

    console.rule("Link a wearable from a browser")
    from stridewise.cli.invite_cmd import BROWSER_STEPS, print_invitation

    patient = demo.CSV_PATIENTS[0][0]
    print_invitation(factory, settings, patient, Path("invitation-demo.png"), demo.THERAPIST[0])
    key_hint = "$STRIDEWISE_SECRET_KEY" if configured.secret_key else "$(cat .stridewise-demo-key)"
    console.print(BROWSER_STEPS.format(database=database, key=key_hint), highlight=False)
