"""``stridewise sandbox``: the loopback provider sandboxes, for trying things by hand."""

from __future__ import annotations

import typer

from stridewise.cli.common import console, require_sandbox


def sandbox_cmd(
    port: int = typer.Option(8765, "--port", help="Loopback port of the Google Health sandbox."),
    garmin_port: int = typer.Option(8766, "--garmin-port", help="Loopback port of Garmin's."),
    seed: int = typer.Option(7, "--seed", help="Seed of the synthetic walkers."),
) -> None:
    """Run the Google Health and Garmin Connect sandboxes on loopback until Ctrl-C.

    Prints the settings that point stridewise at them.

    Google consent is given at once for the user named by login_hint (created on first
    use); Garmin has one demo user (its login and MFA code are printed).

    Example: stridewise sandbox --port 8765 --garmin-port 8766
    """
    require_sandbox()
    import uvicorn

    from sandbox import garmin, google_health
    from sandbox.serve import serve_in_thread
    from stridewise.demo.garmin import DEMO_EMAIL, DEMO_MFA_CODE, DEMO_PASSWORD, demo_sandbox

    google_state = google_health.GoogleSandboxState(seed=seed)
    google_base = f"http://127.0.0.1:{port}"
    with serve_in_thread(garmin.create_app(demo_sandbox()), port=garmin_port) as garmin_base:
        console.print("Sandboxes running; point stridewise at them with:")
        settings = {
            **google_health.sandbox_settings(google_base, google_state),
            **garmin.sandbox_settings(garmin_base),
        }
        for key, value in settings.items():
            print(f"export STRIDEWISE_{key.upper()}={value}")
        console.print(
            f"Garmin demo login: {DEMO_EMAIL} / {DEMO_PASSWORD}, MFA code {DEMO_MFA_CODE}"
        )
        uvicorn.run(
            google_health.create_app(google_state), host="127.0.0.1", port=port, log_level="warning"
        )
