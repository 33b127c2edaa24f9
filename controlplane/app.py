"""The controller process: switches, service, signalling servers, aging, metrics. Wiring only."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
import tomllib
from pathlib import Path
from types import TracebackType

from controlplane.artifacts import BMV2_JSON, P4INFO
from controlplane.config import ConfigError, ControllerConfig, load_config
from controlplane.metrics import Metrics
from controlplane.p4rt.errors import P4ConnectionError
from controlplane.p4rt.p4info import load_p4info
from controlplane.ratelimit import RateLimit
from controlplane.service import NveService
from controlplane.signalling.grpc_api import start_servers
from controlplane.signalling.messages import Refused
from controlplane.signalling.tls import TlsMaterial
from controlplane.store.mapping import open_mapping
from controlplane.store.sqlite import VmStore
from controlplane.switch_agent import SwitchAgent
from controlplane.vdp_agent import VdpAgent

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 30.0


def table_capacities(p4info_path: Path) -> dict[str, int]:
    """Table alias -> size, from the P4Info (what NON_SUFFICIENT_RESOURCES is judged by)."""
    p4info = load_p4info(p4info_path)
    return {t.preamble.alias: int(t.size) for t in p4info.tables}


async def connect_with_retry(agent: SwitchAgent, timeout: float) -> None:
    """Connect to a switch that may still be starting."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await agent.connect()
            return
        except (P4ConnectionError, OSError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise P4ConnectionError(f"switch {agent.name} at {agent.config.grpc_addr} "
                                        f"unreachable for {timeout:.0f} s: {exc}") from None
            await asyncio.sleep(0.2)


class Controller:
    """`async with Controller(cfg) as ctl:` runs everything until the block ends."""

    def __init__(self, cfg: ControllerConfig, *, insecure: bool = False,
                 p4info: Path = P4INFO, bmv2_json: Path = BMV2_JSON, role: str = "primary",
                 rate_limit: RateLimit | None = None) -> None:
        self.cfg = cfg
        self.role = role                # "backup": stand by until the primary is gone
        self.rate_limit = rate_limit    # per hypervisor; None: the default (200/s, burst 400)
        self._serve_lock = asyncio.Lock()
        self.insecure = insecure or cfg.tls.insecure
        self.p4info = p4info
        self.bmv2_json = bmv2_json
        self.metrics = Metrics()
        self.service: NveService | None = None
        self.port = 0
        self._server = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Controller:
        # Start-up builds the whole desired state and reads every table back: objects that
        # live as long as the controller. The cyclic garbage collector would scan them over
        # and over meanwhile (a third of start-up time at 10,000 entries), so it pauses until
        # start-up is over and then no longer looks at them (gc.freeze).
        gc.disable()
        try:
            return await self._start()
        finally:
            gc.freeze()
            gc.enable()

    async def _start(self) -> Controller:
        store = VmStore(self.cfg.database)
        # P4Runtime keeps the highest election id it has ever seen as the bar to be primary,
        # so a restarted controller must arbitrate higher than its previous life: use the clock.
        # A backup arbitrates with seconds, far below any primary's milliseconds, and takes
        # over (above the highest id the switch has seen) when the switch reports no primary.
        standby = self.role == "backup"
        election_id = int(time.time()) if standby else int(time.time() * 1000)
        agents = {sw.name: SwitchAgent(sw, self.p4info, self.bmv2_json, election_id,
                                       standby=standby)
                  for sw in self.cfg.switches}
        await asyncio.gather(*(connect_with_retry(a, CONNECT_TIMEOUT) for a in agents.values()))
        service = NveService(self.cfg, store, agents, table_capacities(self.p4info),
                             mapping=open_mapping(self.cfg))
        service.on_outcome = self._record
        self.metrics.watch(service)
        self.service = service
        # etcd: list every controller's VMs (remote entries) before the switches are reconciled.
        await service.mapping.start(service.sync_mapping)
        service.refresh_locations()
        for name, agent in agents.items():
            if agent.is_primary:
                written = await agent.apply(service.desired(name))
                log.info("switch=%s reconciled at start: %d updates", name, written)
            self._tasks.append(asyncio.create_task(
                agent.watch(lambda name=name: service.desired(name), on_primary=self._took_over),
                name=f"watch-{name}"))
        self._tasks.append(asyncio.create_task(self._aging(), name="aging"))
        self._tasks.append(asyncio.create_task(VdpAgent(self.cfg, service).run(), name="vdp"))
        if all(agent.is_primary for agent in agents.values()):
            await self._serve()
        else:
            log.warning("controller is a backup: signalling starts when it takes over")
        if self.cfg.metrics_addr:
            self.metrics.serve(self.cfg.metrics_addr)
        log.info("controller up: %d switches, %d VMs, signalling on port %d",
                 len(agents), len(service.records), self.port)
        return self

    async def _serve(self) -> None:
        """Start the signalling and operator servers (once)."""
        assert self.service is not None
        async with self._serve_lock:
            if self._server is not None:
                return
            tls = None
            if not self.insecure:
                tls = TlsMaterial.from_files(self.cfg.tls.ca, self.cfg.tls.cert, self.cfg.tls.key)
            self._server, self.port = await start_servers(
                self.service, self.cfg.signalling_addr, tls, operators=self.cfg.operators,
                rate_limit=self.rate_limit)

    async def _took_over(self, agent: SwitchAgent) -> None:
        """A backup became primary of `agent`'s switch: take the records the old primary left
        in the store, converge the switch, and serve once primary of every switch."""
        assert self.service is not None
        await self.service.reload()
        written = await agent.apply(self.service.desired(agent.name))
        log.warning("switch=%s taken over: %d updates to converge", agent.name, written)
        if all(a is agent or a.is_primary for a in self.service.agents.values()):
            await self._serve()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._server is not None:
            await self._server.stop(grace=1.0)
        if self.service is not None:
            await self.service.mapping.close()
            for agent in self.service.agents.values():
                await agent.close()
            self.service.store.close()

    def _record(self, operation: str, result: str, seconds: float) -> None:
        self.metrics.operations.labels(operation, result).inc()
        self.metrics.latency.labels(operation).observe(seconds)

    async def _aging(self) -> None:
        assert self.service is not None
        period = max(0.05, self.cfg.aging_time / 4)
        while True:
            await asyncio.sleep(period)
            if not all(a.is_primary for a in self.service.agents.values()):
                continue                        # a backup, or a switch away: nothing to write
            try:
                await self.service.age_out()
            except Refused as refused:
                log.warning("aging deferred: %s", refused.detail)
                continue


async def run(config_path: Path, insecure: bool, p4info: Path, device_config: Path) -> None:
    """Run the controller until SIGINT or SIGTERM."""
    cfg = load_config(config_path)
    role, rate_limit = controller_options(config_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Controller(cfg, insecure=insecure, p4info=p4info, bmv2_json=device_config,
                          role=role, rate_limit=rate_limit):
        await stop.wait()


def controller_options(config_path: Path) -> tuple[str, RateLimit]:
    """`[controller]` keys read here, not by config.py: `role` ("primary" or "backup"),
    `rate_limit` (requests/s per hypervisor, 0 = none) and `rate_burst`."""
    table = tomllib.loads(Path(config_path).read_text()).get("controller", {})
    role = table.get("role", "primary")
    if role not in ("primary", "backup"):
        raise ConfigError(f"controller.role: expected 'primary' or 'backup', got {role!r}")
    return role, RateLimit.from_table(table)


def main(config_path: str | Path, insecure: bool = False, p4info: Path = P4INFO,
         device_config: Path = BMV2_JSON) -> None:
    """Entry point of `nvectl serve`."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(Path(config_path), insecure, p4info, device_config))
