"""Prometheus metrics of the controller (served on /metrics when controller.metrics_addr is set)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric

from controlplane.service import NveService


class Metrics:
    """The controller's instruments, on a registry of their own (tests make several).

    Request counters and latencies are recorded as requests finish; the gauges (VMs by state,
    installed entries, capacities) are computed when /metrics is read, so a request never
    pays for counting the tables."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.operations = Counter("nve_operations_total", "Signalling requests by type and result",
                                  ["operation", "result"], registry=self.registry)
        self.latency = Histogram("nve_operation_seconds", "Time to answer a signalling request",
                                 ["operation"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5, 1.0, 2.5))
        self.service: NveService | None = None
        self.registry.register(_ServiceState(self))

    def watch(self, service: NveService) -> None:
        """Report `service`'s state from now on."""
        self.service = service

    def serve(self, address: str) -> None:
        """Start the /metrics HTTP endpoint on HOST:PORT."""
        host, port = address.rsplit(":", 1)
        start_http_server(int(port), addr=host, registry=self.registry)


class _ServiceState:
    """The gauges, read from the service at scrape time."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        vms = GaugeMetricFamily("nve_vms", "VM records by state", labels=["state"])
        occupancy = GaugeMetricFamily("nve_table_entries", "Installed entries per switch and table",
                                      labels=["switch", "table"])
        capacity = GaugeMetricFamily("nve_table_capacity", "Table size from the P4Info",
                                     labels=["table"])
        service = self.metrics.service
        if service is not None:
            for state, count in Tally(str(r.phase) for r in service.records.values()).items():
                vms.add_metric([state], count)
            for name, agent in service.agents.items():
                tables = Tally(getattr(e, "table", "multicast_group").rsplit(".", 1)[-1]
                               for e in agent.installed)
                for table, count in tables.items():
                    occupancy.add_metric([name, table], count)
            for table, size in service.capacities.items():
                capacity.add_metric([table], size)
        yield from (vms, occupancy, capacity)
