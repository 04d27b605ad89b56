"""``gongjian``: migrate, load demo data, serve.

gongjian run            migrate, load the demo data, print the demo logins, serve
gongjian migrate        upgrade every component's database to head
gongjian demo           load the demo data (idempotent)
gongjian serve          serve the embedded platform (gateway + all services)
gongjian secrets [--format env|k8s]   fresh production keys: an .env file for compose, or
                        the Kubernetes Secret manifest
gongjian makemigration COMPONENT -m MESSAGE   autogenerate a migration (developers)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from services.common.observability import configure_logging
from services.common.settings import Settings, get_settings


def _serve(settings: Settings) -> None:
    import uvicorn

    from gateway.app import create_app

    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        proxy_headers=False,
        # uvicorn's 5 s is what httpx, okhttp and nginx's upstream pools keep an idle
        # connection for too: a request sent on one as the server closes it is lost
        # ("server disconnected"). The gateway keeps them longer than its clients do.
        timeout_keep_alive=settings.service_keep_alive_s,
    )


def _serve_service(settings: Settings, name: str, port: int) -> None:
    import importlib

    import uvicorn

    module = importlib.import_module(f"services.{name}.app")
    uvicorn.run(
        module.create_app(settings),
        host=settings.host,
        port=port,
        log_config=None,
        # Longer than the gateway's pooled connections stay idle (see the settings).
        timeout_keep_alive=settings.service_keep_alive_s,
    )


def _migrate(settings: Settings) -> None:
    from gateway.components import migrate_all
    from services.common.storage import object_store

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate_all(settings)
    print("migrations: every component at head", flush=True)

    async def prepare_store() -> None:  # the bucket, made once before the services start
        store = object_store(settings)
        try:
            await store.ensure_ready()
        finally:
            await store.aclose()

    asyncio.run(prepare_store())
    print(f"object store: {settings.s3_endpoint or settings.data_dir} ready", flush=True)


def _demo(settings: Settings) -> None:
    import logging

    from gateway.demo import load_demo_data

    logging.getLogger("gongjian.access").setLevel(logging.WARNING)  # the loader's own calls
    report = asyncio.run(load_demo_data(settings))
    print(report.summary(), flush=True)


def _makemigration(component: str, message: str) -> None:
    from alembic import command

    from gateway.components import MIGRATION_TREES
    from services.common.migrations import alembic_config

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), database_url="")
        cfg = alembic_config(component, MIGRATION_TREES[component], settings)
        command.upgrade(cfg, "head")
        command.revision(cfg, message=message, autogenerate=True)


def _secrets(fmt: str) -> None:
    from services.common.settings import generate_secrets

    values = generate_secrets()
    if fmt == "env":
        print("# gongjian secrets: keep this file out of version control")
        for name, value in values.items():
            print(f"{name}={value}")
        print("GONGJIAN_WECHAT_APP_ID=")
        print("GONGJIAN_WECHAT_APP_SECRET=")
        return
    password = values.pop("POSTGRES_PASSWORD")
    values["DATABASE_URL"] = f"postgresql+asyncpg://gongjian:{password}@postgres:5432/gongjian"
    print("apiVersion: v1\nkind: Secret\nmetadata:\n  name: gongjian-secrets\ntype: Opaque")
    print("stringData:")
    for name, value in values.items():
        print(f'  {name}: "{value}"')
    print('  GONGJIAN_WECHAT_APP_ID: ""  # fill in')
    print('  GONGJIAN_WECHAT_APP_SECRET: ""  # fill in')


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="gongjian", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "migrate", "demo", "serve", "run-split"):
        sub.add_parser(name)
    one = sub.add_parser("serve-service")
    one.add_argument("name", choices=["registry", "grid", "volunteer", "assessment"])
    one.add_argument("--port", type=int, required=True)
    keys = sub.add_parser("secrets")
    keys.add_argument("--format", choices=["env", "k8s"], default="env")
    mk = sub.add_parser("makemigration")
    mk.add_argument("component")
    mk.add_argument("-m", "--message", required=True)
    args = parser.parse_args(argv)

    if args.command == "makemigration":
        return _makemigration(args.component, args.message)
    if args.command == "secrets":
        return _secrets(args.format)
    try:
        settings = get_settings()
    except ValueError as exc:
        sys.exit(f"configuration refused: {exc}")
    configure_logging(settings.log_level, settings.log_json)
    if args.command == "migrate":
        _migrate(settings)
    elif args.command == "demo":
        _demo(settings)
    elif args.command == "serve":
        _serve(settings)
    elif args.command == "serve-service":
        _serve_service(settings, args.name, args.port)
    elif args.command == "run-split":
        from gateway.split import run_split

        _migrate(settings)
        if settings.demo_data:  # the demo logins, as `make run` has them
            _demo(settings)
        run_split(settings)
    elif args.command == "run":
        _migrate(settings)
        if settings.demo_data:
            _demo(settings)
        print(
            f"Gongjian is serving on http://{settings.host}:{settings.port} (docs at /docs)",
            flush=True,
        )
        _serve(settings)


if __name__ == "__main__":
    main()
