"""IEEE 802.1Qbg VDP over ECP, the bridge side, for stations such as lldpad.

`wire` encodes and decodes LLDP (with the EVB TLV), ECP and VDP; `ecp` acknowledges, drops
duplicates and retransmits; `evb` negotiates the EVB timers; `port` is one access port's EVB/ECP
state; `translate` maps VSI TLVs onto the NVE's requests and answers back. All of it is sans
I/O: `controlplane.vdp_agent` moves the frames through the switches (packet-in / packet-out)
and asks the NVE service.
"""
