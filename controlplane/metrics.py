"""Prometheus metrics of the controller (served on /metrics when controller.metrics_addr is set)."""

from __future__ import annotations

from collections import Counter as Tally

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from controlplane.service import NveService


class Metrics:
    """The controller's instruments, on a registry of their own (tests make several)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.operations = Counter("nve_operations_total", "Signalling requests by type and result",
                                  ["operation", "result"], registry=self.registry)
        self.latency = Histogram("nve_operation_seconds", "Time to answer a signalling request",
                                 ["operation"], registry=self.registry,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                          0.5, 1.0, 2.5))
        self.vms = Gauge("nve_vms", "VM records by state", ["state"], registry=self.registry)
        self.occupancy = Gauge("nve_table_entries", "Installed entries per switch and table",
                               ["switch", "table"], registry=self.registry)
        self.capacity = Gauge("nve_table_capacity", "Table size from the P4Info", ["table"],
                              registry=self.registry)

    def observe(self, service: NveService) -> None:
        """Refresh the gauges from the service's current state."""
        states = Tally(str(r.phase) for r in service.records.values())
        self.vms.clear()
        for state, count in states.items():
            self.vms.labels(state).set(count)
        for name, agent in service.agents.items():
            tables = Tally(getattr(e, "table", "multicast_group").rsplit(".", 1)[-1]
                           for e in agent.installed)
            for table, count in tables.items():
                self.occupancy.labels(name, table).set(count)
        for table, size in service.capacities.items():
            self.capacity.labels(table).set(size)

    def serve(self, address: str) -> None:
        """Start the /metrics HTTP endpoint on HOST:PORT."""
        host, port = address.rsplit(":", 1)
        start_http_server(int(port), addr=host, registry=self.registry)
