"""The NVE lab: two NVEs (embedded softswitch or bmv2), hypervisors tagging VMs' frames with the
VID their NVE assigned, an underlay router, a Linux kernel VTEP peer, the controller, and the
narrated demo with a live migration under a 1,000 packets/s probe.

    python -m bmv2_lab up | down | status | demo [--keep] | associate VM | ping VM DST | policy P

Modules: spec (what the lab is), state (crash-safe record), netns + topology (namespaces),
targets (switch launchers), fabric (the no-root hosts), hosts (host operations in either mode),
controller, agent (hypervisor signalling), probe, migration, plot, demo. Kept import-free here:
bmv2_lab.hostcmd starts in every VM namespace.
"""
