"""The controller process: switches, service, signalling servers, aging, metrics. Wiring only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from pathlib import Path
from types import TracebackType

from controlplane.config import ControllerConfig, load_config
from controlplane.metrics import Metrics
from controlplane.p4rt.errors import P4ConnectionError
from controlplane.p4rt.p4info import load_p4info
from controlplane.service import NveService
from controlplane.signalling.grpc_api import start_servers
from controlplane.signalling.tls import TlsMaterial
from controlplane.store.sqlite import VmStore
from controlplane.switch_agent import SwitchAgent

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
P4INFO = ROOT / "p4src" / "build" / "nve.p4info.txtpb"
BMV2_JSON = ROOT / "p4src" / "build" / "nve.json"
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
                 p4info: Path = P4INFO, bmv2_json: Path = BMV2_JSON) -> None:
        self.cfg = cfg
        self.insecure = insecure or cfg.tls.insecure
        self.p4info = p4info
        self.bmv2_json = bmv2_json
        self.metrics = Metrics()
        self.service: NveService | None = None
        self.port = 0
        self._server = None
        self._tasks: list[asyncio.Task[None]] = []

    async def __aenter__(self) -> Controller:
        store = VmStore(self.cfg.database)
        # P4Runtime keeps the highest election id it has ever seen as the bar to be primary,
        # so a restarted controller must arbitrate higher than its previous life: use the clock.
        election_id = int(time.time() * 1000)
        agents = {sw.name: SwitchAgent(sw, self.p4info, self.bmv2_json, election_id)
                  for sw in self.cfg.switches}
        await asyncio.gather(*(connect_with_retry(a, CONNECT_TIMEOUT) for a in agents.values()))
        service = NveService(self.cfg, store, agents, table_capacities(self.p4info))
        service.on_outcome = self._record
        self.service = service
        for name, agent in agents.items():
            written = await agent.apply(service.desired(name))
            log.info("switch=%s reconciled at start: %d updates", name, written)
            self._tasks.append(asyncio.create_task(
                agent.watch(lambda name=name: service.desired(name)), name=f"watch-{name}"))
        self._tasks.append(asyncio.create_task(self._aging(), name="aging"))
        tls = None
        if not self.insecure:
            tls = TlsMaterial.from_files(self.cfg.tls.ca, self.cfg.tls.cert, self.cfg.tls.key)
        self._server, self.port = await start_servers(service, self.cfg.signalling_addr, tls,
                                                      operators=self.cfg.operators)
        if self.cfg.metrics_addr:
            self.metrics.serve(self.cfg.metrics_addr)
        log.info("controller up: %d switches, %d VMs, signalling on port %d",
                 len(agents), len(service.records), self.port)
        return self

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
            for agent in self.service.agents.values():
                await agent.close()
            self.service.store.close()

    def _record(self, operation: str, result: str, seconds: float) -> None:
        self.metrics.operations.labels(operation, result).inc()
        self.metrics.latency.labels(operation).observe(seconds)
        if self.service is not None:
            self.metrics.observe(self.service)

    async def _aging(self) -> None:
        assert self.service is not None
        period = max(0.05, self.cfg.aging_time / 4)
        while True:
            await asyncio.sleep(period)
            aged = await self.service.age_out()
            if aged:
                self.metrics.observe(self.service)


async def run(config_path: Path, insecure: bool) -> None:
    """Run the controller until SIGINT or SIGTERM."""
    cfg = load_config(config_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Controller(cfg, insecure=insecure):
        await stop.wait()


def main(config_path: str | Path, insecure: bool = False) -> None:
    """Entry point of `nvectl serve`."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(Path(config_path), insecure))
