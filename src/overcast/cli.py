"""The `overcast` command: up, init, doctor, keys rotate, down, agent, image, upstream."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from overcast.config import Settings, SettingsError, load_settings

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="overcast: an OpenStack-compatible cloud that is simple to run.")
keys_app = typer.Typer(no_args_is_help=True, help="Fernet keys: tokens and credentials.")
app.add_typer(keys_app, name="keys")
image_app = typer.Typer(no_args_is_help=True, help="Guest images.")
app.add_typer(image_app, name="image")
console = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where all state lives.")]


def _settings(data_dir: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(data_dir=data_dir, **overrides)
    except SettingsError as exc:
        console.print(f"[red]✗[/red] {exc}")
        raise typer.Exit(2)


def _serve_until_stopped() -> None:
    """Make this process a server that no peer can stop (`serve.protect_server_process`:
    SIGPIPE ignored, a vanished console tolerated); the API workers do the same."""
    from overcast.serve import QuietStream, protect_server_process

    protect_server_process()
    console.file = QuietStream(sys.stderr)  # type: ignore[assignment]


@app.command()
def up(
    data_dir: DataDir = None,
    port: Annotated[int | None, typer.Option(help="The one port every API is served on.")] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    database_url: Annotated[str | None, typer.Option(
        help="SQLAlchemy URL (default: SQLite in the data dir).")] = None,
    no_user_clouds_yaml: Annotated[bool, typer.Option(
        "--no-user-clouds-yaml", help="Do not merge into ~/.config/openstack/clouds.yaml.")]
    = False,
    no_agent: Annotated[bool, typer.Option("--no-agent", help="Do not start a local agent.")]
    = False,
    no_test_image: Annotated[bool, typer.Option(
        "--no-test-image", help="Do not build/register the tiny test images.")] = False,
    no_default_networks: Annotated[bool, typer.Option(
        "--no-default-networks",
        help="Do not create the public network and the admin's private network.")]
    = False,
    workers: Annotated[int | None, typer.Option(
        help="API worker processes (default: api_workers, 0 = as many as cores); "
             "with more than one, an engine process runs the conductor, agents and "
             "storage apart from them. 1: everything in one process.")] = None,
) -> None:
    """Start an all-in-one cloud in the foreground (Ctrl-C or SIGTERM stops it)."""
    _serve_until_stopped()

    from overcast.serve import (
        AlreadyRunning,
        claim_pidfile,
        default_workers,
        release_pidfile,
        setup_logging,
    )

    overrides: dict[str, Any] = {"port": port, "host": host, "database_url": database_url,
                                 "api_workers": workers}
    if no_user_clouds_yaml:
        overrides["merge_user_clouds_yaml"] = False
    if no_agent:
        overrides["local_agent"] = False
    if no_test_image:
        overrides["build_test_image"] = False
    if no_default_networks:
        overrides["default_networks"] = False
    settings = _settings(data_dir, **overrides)
    count = settings.api_workers if settings.api_workers > 0 else default_workers()
    setup_logging(settings, "engine" if count > 1 else "overcast")
    try:
        claim_pidfile(settings)
    except AlreadyRunning as exc:
        console.print(f"[red]✗[/red] {exc}")
        raise typer.Exit(1)
    try:
        _up(settings, count)
    finally:
        release_pidfile(settings)
    console.print("overcast stopped.")


def _up(settings: Settings, count: int) -> None:
    """Prepare the cloud, then serve it: one process, or an engine and workers."""
    from overcast.app import create_app
    from overcast.serve import engine_bus, worker_bus

    app_, engine = None, None
    if count > 1:
        from overcast.serve import Engine

        # The workers' app is built once here and forked into each of them.
        template = create_app(settings, role="api", bus=worker_bus(settings))
        engine = Engine(settings, count, template)
        app_ = create_app(settings, role="engine", bus=engine_bus(settings))
    try:
        info = _prepare(settings, app_)
    except BaseException:
        if engine is not None:
            engine.abandon()
        raise

    def say_up() -> None:
        console.print(f"[green]✓[/green] overcast is up at {settings.base_url} "
                      f"(data in {settings.data_dir}; "
                      + (f"{count} API workers and an engine)" if count > 1
                         else "one process)"))
        console.print(f"  clouds.yaml: {info.clouds_yaml} (cloud [bold]overcast[/bold])")
        console.print(f"  try: OS_CLIENT_CONFIG_FILE={info.clouds_yaml} "
                      f"{_openstack_command()} --os-cloud overcast token issue")

    if engine is not None:
        engine.run(info.app, ready=say_up)
    else:
        _serve_one_process(info.app, settings, say_up)


def _prepare(settings: Settings, app_: Any) -> Any:
    """Migrations, bootstrap, default networks, the test image (before serving)."""
    from overcast.cloud import init_cloud

    with console.status("[bold]starting overcast[/bold]") as status:
        info = init_cloud(settings, progress=lambda msg: status.update(f"[bold]{msg}…"),
                          app=app_)
        if settings.default_networks:
            status.update("[bold]networks: public, private, router1…")
            _default_networks(info.app)
        if settings.build_test_image:
            _test_image(info.app, lambda msg, frac: status.update(
                f"[bold]test image: {msg}… ({frac:.0%})"))
    return info


def _serve_one_process(app_: Any, settings: Settings, ready: Any) -> None:
    """`--workers 1`: one uvicorn server runs the whole app (role "all")."""
    import uvicorn

    from overcast.kit.http import protocol as http_protocol
    from overcast.serve import graceful_server_class, settle_heap

    ready()
    settle_heap()
    config = uvicorn.Config(app_, host=settings.host, port=settings.port,
                            log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=5, http=http_protocol(settings.api_http),
                            loop=settings.api_loop)
    graceful_server_class()(config).run()


def _openstack_command() -> str:
    """The `openstack` client to suggest: the one installed beside this `overcast`
    (the `clients` extra, which scripts/up.sh installs), else whichever is on PATH."""
    beside = Path(sys.executable).parent / "openstack"
    return str(beside) if beside.exists() else "openstack"


def _default_networks(app_: Any) -> None:
    """The external `public` network and the admin project's `private` + `router1`."""
    settings = app_.state.settings
    made = app_.state.network.ensure_default_topology(
        app_.state.identity.admin_project_id(), settings.public_cidr)
    if "private" in made:
        console.print("[green]✓[/green] networks: [bold]public[/bold] "
                      f"({settings.public_cidr}, reachable with `overcast upstream -- CMD`), "
                      "[bold]private[/bold] (10.0.0.0/24) and [bold]router1[/bold] for admin")


def _test_image(app_: Any, progress: Any) -> None:
    """Build (or take from the cache) and register overcast-tiny; never fatal."""
    from overcast.image.builder import MACHINE_NAME, build_test_image, register_test_images

    try:
        built = build_test_image(app_.state.settings.guest_cache_dir, progress)
        image_id = register_test_images(app_.state.images, built, progress)
    except Exception as exc:  # noqa: BLE001 - the cloud works without it
        console.print(f"[yellow]![/yellow] the test image was not built: {exc}. The cloud "
                      "runs without it; `overcast image build-test` retries and says more.")
        return
    console.print(f"[green]✓[/green] test image [bold]{MACHINE_NAME}[/bold] ({image_id})")


@image_app.command("build-test")
def image_build_test(data_dir: DataDir = None,
                     force: Annotated[bool, typer.Option(
                         "--force", help="Rebuild even when the cache has it.")] = False
                     ) -> None:
    """Build the tiny guest (kernel, ramdisk, machine image) from Debian packages and
    register it as overcast-tiny."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from overcast.cloud import init_cloud
    from overcast.image.builder import (
        MACHINE_NAME,
        BuildError,
        build_test_image,
        register_test_images,
    )

    settings = _settings(data_dir, merge_user_clouds_yaml=False)
    info = init_cloud(settings)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        task = bar.add_task("building", total=1.0)

        def step(msg: str, frac: float) -> None:
            bar.update(task, description=msg, completed=frac)

        try:
            built = build_test_image(settings.guest_cache_dir, step, force=force)
        except BuildError as exc:
            console.print(f"[red]✗[/red] {exc}")
            raise typer.Exit(1)
        bar.update(task, description="registering", completed=0.0)
        image_id = register_test_images(info.app.state.images, built, step)
    console.print(f"[green]✓[/green] {MACHINE_NAME} is image {image_id} "
                  f"(kernel {built.kernel_version}, files in {built.directory})")


@app.command()
def init(data_dir: DataDir = None, port: int | None = None) -> None:
    """Create the data directory, migrate the database and bootstrap identity."""
    from overcast.cloud import init_cloud

    settings = _settings(data_dir, port=port)
    info = init_cloud(settings)
    console.print(f"initialised {settings.data_dir}; clouds.yaml at {info.clouds_yaml}")


@keys_app.command("rotate")
def keys_rotate(data_dir: DataDir = None) -> None:
    """Rotate the Fernet keys: stage a new key, promote the staged one to primary."""
    from overcast.identity.tokens import KeyRepository

    settings = _settings(data_dir)
    repo = KeyRepository(settings.keys_dir, settings.max_active_keys)
    primary = repo.rotate()
    console.print(f"rotated: primary key is now {primary}")


@keys_app.command("rotate-credentials")
def keys_rotate_credentials(data_dir: DataDir = None) -> None:
    """Rotate the credential encryption keys and re-encrypt every credential blob
    with the new primary key (Keystone's credential_rotate + credential_migrate)."""
    from overcast.db import Database
    from overcast.identity.credentials import CredentialCrypto, Credentials
    from overcast.identity.tokens import KeyRepository

    settings = _settings(data_dir)
    db = Database(settings.db_url)
    try:
        creds = Credentials(db, CredentialCrypto(KeyRepository(
            settings.credential_keys_dir, settings.max_active_keys)))
        primary = creds.rotate_keys()
    finally:
        db.dispose()
    console.print(f"rotated: credential primary key is now {primary}; every blob "
                  f"re-encrypted with it")


@app.command()
def doctor(data_dir: DataDir = None) -> None:
    """Check what this host offers and what overcast needs."""
    from overcast.doctor import run_checks

    ok = run_checks(_settings(data_dir), console)
    raise typer.Exit(0 if ok else 1)


def _dataplane(settings: Settings) -> Any:
    from overcast.agent.net.linux import LinuxDataplane

    return LinuxDataplane(settings.net_prefix, settings.data_dir / "net")


@app.command()
def down(data_dir: DataDir = None,
         purge: Annotated[bool, typer.Option(
             "--purge", help="Also remove the cloud's instances and networks from this "
                             "host: its guests and containers, namespaces, bridges, DHCP "
                             "servers and firewall rules.")]
         = False) -> None:
    """Stop the `overcast up` of this data directory, if one runs; with --purge also
    take this cloud's instances and dataplane off the host (`overcast up` puts the
    dataplane back)."""
    from overcast.serve import stop_running

    settings = _settings(data_dir)
    from overcast.lab import LabState, stop_lab

    lab = LabState.load(settings.data_dir)
    if lab is not None:
        pid = stop_lab(settings.data_dir)
        if pid is not None:
            console.print(f"[green]✓[/green] stopped overcast lab (pid {pid}), its hosts' "
                          "agents and its control plane")
    stopped = stop_running(settings)
    if stopped is not None:
        console.print(f"[green]✓[/green] stopped overcast up (pid {stopped}) and its "
                      "processes")
    if not purge:
        if stopped is None:
            console.print("overcast up is not running on this data directory; --purge "
                          "also removes the cloud's instances and networks from this host.")
        return
    plane = _dataplane(settings)
    gone = _purge_instances(settings, plane)
    if gone:
        console.print(f"[green]✓[/green] stopped and removed {gone} instances (their "
                      "processes, disks, root file systems and ports)")
    found = plane.list_devices()["namespaces"]
    plane.cleanup()
    console.print(f"[green]✓[/green] removed {len(found)} namespaces of cloud "
                  f"{settings.cloud_id} (prefix {plane.prefix})")
    if lab is not None:
        _purge_lab(settings, lab)


def _purge_lab(settings: Settings, lab: Any) -> None:
    """A lab's hosts (their agents, guests and dataplanes), its management network,
    its database and its queues."""
    import os as _os

    from overcast.agent.net.linux import LinuxDataplane
    from overcast.lab import drop_database, kill_leftovers, purge_queues, remove_management

    kill_leftovers(lab)
    for h in lab.hosts:
        hs = _settings(Path(h.data_dir), dataplane_prefix=h.prefix)
        plane = LinuxDataplane(h.prefix, Path(h.data_dir) / "net")
        gone = _purge_instances(hs, plane) if Path(h.data_dir).is_dir() else 0
        plane.cleanup()
        console.print(f"[green]✓[/green] host {h.name}: removed {gone} instances and its "
                      f"dataplane (prefix {h.prefix})")
    removed = remove_management(lab)
    console.print("[green]✓[/green] removed the management network "
                  f"({', '.join(removed) or 'gone already'})")
    if lab.created_database:
        try:
            drop_database(lab.created_database)
            console.print(f"[green]✓[/green] dropped database {lab.created_database}")
        except Exception as exc:  # noqa: BLE001 - say it, purge the rest
            console.print(f"[yellow]database {lab.created_database} not dropped: "
                          f"{exc}[/yellow]")
    if purge_queues(lab):
        console.print("[green]✓[/green] deleted the queues of bus namespace "
                      f"{lab.bus_namespace}")
    (settings.data_dir / "lab.json").unlink(missing_ok=True)
    _os.sync()


def _purge_instances(settings: Settings, plane: Any) -> int:
    """Destroy every instance the real drivers of this cloud still hold on this host."""
    import asyncio
    import importlib
    import socket

    from overcast.agent.virt.base import DriverEnv

    async def no_image(image_id: str) -> Path:
        raise RuntimeError("purging needs no image")

    async def purge() -> int:
        count = 0
        for name, cls in (("qemu", "QemuDriver"), ("container", "ContainerDriver")):
            state = settings.data_dir / "instances" / name
            if not state.is_dir():
                continue
            try:
                module = importlib.import_module(f"overcast.agent.virt.{name}")
            except ImportError:
                continue
            driver = getattr(module, cls)(socket.gethostname(),
                                          DriverEnv(state_dir=state, image_path=no_image,
                                                    plugger=plane))
            for uuid in await driver.list_instances():
                try:
                    await driver.destroy(uuid)
                    count += 1
                except Exception as exc:  # noqa: BLE001 - purge the rest, say what failed
                    console.print(f"[yellow]instance {uuid} ({name}): {exc}[/yellow]")
        return count

    return asyncio.run(purge())


@app.command()
def status(data_dir: DataDir = None) -> None:
    """Whether `overcast up` runs on this data directory, and its processes."""
    from overcast.serve import running_pid, worker_pids

    settings = _settings(data_dir)
    pid = running_pid(settings)
    if pid is None:
        console.print(f"overcast is not running on {settings.data_dir}")
        raise typer.Exit(3)
    workers = worker_pids(pid)
    console.print(f"overcast is up at {settings.base_url} (pid {pid}"
                  + (f", {len(workers)} API workers: {', '.join(map(str, workers))})"
                     if workers else ", one process)"))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def upstream(ctx: typer.Context, data_dir: DataDir = None) -> None:
    """Run a command in the simulated outside world of the `public` network, e.g.
    `overcast upstream -- curl http://FLOATING_IP/`."""
    import os as _os

    settings = _settings(data_dir)
    plane = _dataplane(settings)
    if plane.upstream_ns not in plane.list_devices()["namespaces"]:
        console.print("[red]This cloud has no upstream yet:[/red] it appears once an "
                      "external network with a subnet exists and `overcast up` runs as "
                      "root with the Linux dataplane.")
        raise typer.Exit(1)
    argv = list(ctx.args) or ["sh"]
    _os.execvp("ip", ["ip", "netns", "exec", plane.upstream_ns, *argv])


def _accel_option(value: str | None) -> str | None:
    if value in (None, "", "auto"):
        return None
    if value not in ("kvm", "tcg"):
        console.print(f"[red]✗[/red] --qemu-accel {value}: use kvm or tcg")
        raise typer.Exit(2)
    return value


@app.command()
def lab(
    hosts: Annotated[int, typer.Option(help="Compute hosts (namespaces) to start.")] = 2,
    data_dir: DataDir = None,
    port: Annotated[int | None, typer.Option(help="The control plane's API port.")] = None,
    database_url: Annotated[str | None, typer.Option(
        help="PostgreSQL URL (default: a database of the lab's own on 127.0.0.1).")]
    = None,
    bus_url: Annotated[str | None, typer.Option(
        help="RabbitMQ URL (default: amqp://guest:guest@127.0.0.1:5672/).")] = None,
    driver: Annotated[str, typer.Option(
        help="The hosts' virt drivers: qemu, container or real (both).")] = "real",
    workers: Annotated[int | None, typer.Option(
        help="The control plane's API worker processes.")] = None,
    heartbeat_interval: Annotated[float | None, typer.Option(
        help="Seconds between each host's reports to the control plane (default: each "
             "host's report_interval, from DIR/hosts/HOST/overcast.yaml, 10).")] = None,
    no_user_clouds_yaml: Annotated[bool, typer.Option(
        "--no-user-clouds-yaml", help="Do not merge into ~/.config/openstack/clouds.yaml.")]
    = False,
    no_test_image: Annotated[bool, typer.Option(
        "--no-test-image", help="Do not build/register the tiny test images.")] = False,
    qemu_accel: Annotated[str | None, typer.Option(
        help="The hosts' QEMU accelerator: kvm or tcg (default: each host probes).")]
    = None,
) -> None:
    """A multi-host cloud on this machine: a control plane (the network node) and N
    hosts, each a network namespace with its own address, data dir and agent with
    the real drivers; in the foreground until Ctrl-C or SIGTERM."""
    accel = _accel_option(qemu_accel)
    _serve_until_stopped()
    from overcast.lab import LabError, LabOptions, run_lab

    settings = _settings(data_dir)
    opts = LabOptions(hosts=hosts, port=port or settings.port, database_url=database_url,
                      bus_url=bus_url, driver=driver, workers=workers,
                      heartbeat_interval=heartbeat_interval,
                      test_image=not no_test_image,
                      merge_user_clouds_yaml=not no_user_clouds_yaml,
                      qemu_accel=accel)

    def say(msg: str) -> None:
        console.print(f"[green]✓[/green] {msg}")

    def ready(lab_: Any) -> None:
        clouds = settings.data_dir / "clouds.yaml"
        console.print(f"[green]✓[/green] overcast lab is up: {lab_.public_url}, "
                      f"{hosts} hosts (data in {settings.data_dir})")
        console.print(f"  clouds.yaml: {clouds} (cloud [bold]overcast[/bold])")
        console.print(f"  try: OS_CLIENT_CONFIG_FILE={clouds} {_openstack_command()} "
                      "--os-cloud overcast hypervisor list")

    try:
        run_lab(settings, opts, say, ready)
    except LabError as exc:
        console.print(f"[red]✗[/red] {exc}")
        raise typer.Exit(1)
    console.print("overcast lab stopped (its guests keep running; `overcast lab` again "
                  "re-adopts them, `overcast down --purge` removes everything).")


@app.command()
def agent(
    host: Annotated[str, typer.Option(help="This host's name (and the prefix with --count).")],
    driver: Annotated[str, typer.Option(
        help="Virt driver: fake, qemu, container or real (qemu and container; the "
             "container host is HOST-ct).")] = "fake",
    count: Annotated[int, typer.Option(help="Simulated hosts in this process (fake).")] = 1,
    bus_url: Annotated[str | None, typer.Option(
        help="amqp:// URL of the control plane's RabbitMQ.")] = None,
    bus_namespace: Annotated[str | None, typer.Option(
        help="The control plane's bus_namespace (queue-name prefix).")] = None,
    public_url: Annotated[str | None, typer.Option(
        help="The control plane's URL (real drivers fetch images and upload snapshots "
             "through its APIs).")] = None,
    tunnel_ip: Annotated[str | None, typer.Option(
        help="This host's address on the hosts' network, where VXLAN tunnels end.")]
    = None,
    credential: Annotated[Path | None, typer.Option(
        help="The service user's credential (default: DATA_DIR/agent-credential.yaml, "
             "a copy of the control plane's).")] = None,
    dataplane_prefix: Annotated[str | None, typer.Option(
        help="Prefix of this host's namespaces and devices (unique per machine).")]
    = None,
    heartbeat_interval: Annotated[float | None, typer.Option(
        help="Seconds between this host's reports to the control plane "
             "(default: the report_interval setting, 10).")] = None,
    data_dir: DataDir = None,
    spawn_latency: Annotated[float, typer.Option(help="Fake spawn time, seconds.")] = 0.0,
    qemu_accel: Annotated[str | None, typer.Option(
        help="QEMU's accelerator: kvm or tcg (default: probed, KVM when a test guest "
             "runs under it).")] = None,
    storage: Annotated[bool, typer.Option(
        help="Also be a block storage host: volumes as files under DATA_DIR/volumes, "
             "exported over NBD on volume_nbd_address:volume_nbd_port (no images: "
             "volumes from images are made on a host that has them).")] = False,
) -> None:
    """Run compute agent(s) that serve a control plane over RabbitMQ: fake hosts, or
    this host with the real drivers and its own dataplane."""
    import asyncio

    accel = _accel_option(qemu_accel)
    _serve_until_stopped()

    from overcast.bus import make_bus

    settings = _settings(data_dir, bus_url=bus_url, bus_namespace=bus_namespace,
                         public_url=public_url, tunnel_ip=tunnel_ip,
                         dataplane_prefix=dataplane_prefix)
    if settings.bus_url in ("", "memory"):
        console.print("[red]An agent in its own process needs a shared bus:[/red] pass "
                      "--bus-url amqp://USER:PASS@HOST:5672/ (and run `overcast up` with "
                      "the same bus_url).")
        raise typer.Exit(2)
    real = driver != "fake"
    if real:
        from overcast.agent.remote import real_drivers, unavailable

        try:
            drivers = real_drivers(driver)
        except ValueError as exc:
            console.print(f"[red]✗[/red] {exc}")
            raise typer.Exit(2)
        if driver == "real":  # the real drivers this host can run
            drivers = [n for n in drivers if unavailable(n) is None] or drivers
        if not settings.public_url:
            console.print("[red]A host with real drivers needs the control plane's URL:"
                          "[/red] pass --public-url http://CONTROLLER:PORT")
            raise typer.Exit(2)
    names = [host] if count == 1 else [f"{host}-{i}" for i in range(count)]
    interval = heartbeat_interval or settings.report_interval

    async def run() -> None:
        from overcast.serve import setup_logging

        if real:  # a host's own log: DATA_DIR/logs/overcast.log
            setup_logging(settings, f"agent-{host}")
        bus = make_bus(settings.bus_url, settings.bus_namespace)
        await bus.start()
        agents: list[Any] = []
        client = None
        if real:
            from overcast.agent.remote import RemoteHost, start_remote_host

            try:
                agents, client = await start_remote_host(RemoteHost(
                    host=host, drivers=drivers, data_dir=settings.data_dir,
                    public_url=settings.public_url, tunnel_ip=settings.tunnel_ip,
                    net_prefix=settings.net_prefix, credential_file=credential,
                    heartbeat_interval=interval, qemu_accel=accel),
                    bus, say=lambda m: console.print(f"[green]✓[/green] {m}"))
            except Exception as exc:  # noqa: BLE001 - said plainly, not as a traceback
                console.print(f"[red]✗[/red] host {host} cannot start: {exc}")
                await bus.stop()
                raise typer.Exit(1) from None
            names[:] = [a.host for a in agents]
        else:
            from overcast.agent.host import Agent
            from overcast.agent.virt.fake import FakeDriver

            # each fake hypervisor keeps what it runs in a file: an agent restarted
            # finds its guests again (re-adopts them), as a real host's would
            settings.data_dir.mkdir(parents=True, exist_ok=True)
            agents = [Agent(n, FakeDriver(
                n, spawn_latency=spawn_latency,
                state_path=settings.data_dir / f"fake-hypervisor-{n}.json"), bus,
                heartbeat_interval=interval) for n in names]
            for a in agents:
                await a.start()
        storage_host = None
        if storage:
            from overcast.agent.storage.component import StorageComponent
            from overcast.agent.storage.file import FileDriver

            root = settings.data_dir / "volumes"
            storage_host = StorageComponent(host, FileDriver(
                root, host=host, nbd_address=settings.volume_nbd_address,
                nbd_port=settings.volume_nbd_port), work_dir=root / "to-images")
            await storage_host.start_on(bus)
        console.print(f"agents up: {', '.join(names)} (driver {driver})"
                      + (f"; tunnels from {settings.tunnel_ip}" if settings.tunnel_ip
                         else "")
                      + (f"; storage host {host}" if storage else ""))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        for a in agents:
            await a.stop()
        if client is not None:
            await client.close()
        if storage_host is not None:
            await storage_host.stop()
        await bus.stop()

    asyncio.run(run())


def main() -> None:
    # Short commands die quietly when their reader goes away (`overcast ... | head`);
    # the long-running ones (`up`, `agent`) undo this first thing: _serve_until_stopped.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
