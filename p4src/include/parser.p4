#ifndef NVE_PARSER_P4
#define NVE_PARSER_P4

#include <core.p4>
#include <v1model.p4>
#include "headers.p4"
#include "metadata.p4"

error {
    Ipv4BadVersion,
    Ipv4BadHeaderLength
}

// Which headers a frame has depends on the port it came in on: the controller lists the network
// (underlay) ports in the network_ports value set; every other port but the CPU port is an access port.
parser NveParser(packet_in packet,
                 out headers_t hdr,
                 inout local_metadata_t meta,
                 inout standard_metadata_t standard_metadata) {

    value_set<port_t>(MAX_NETWORK_PORTS) network_ports;

    state start {
        transition select(standard_metadata.ingress_port) {
            CPU_PORT      : parse_packet_out;
            network_ports : parse_outer_ethernet;
            default       : parse_inner_ethernet;
        }
    }

    // A frame from the controller: sent as is, nothing past the controller header is parsed.
    state parse_packet_out {
        packet.extract(hdr.packet_out);
        transition accept;
    }

    state parse_outer_ethernet {
        meta.from_network = 1;
        packet.extract(hdr.outer_ethernet);
        transition select(hdr.outer_ethernet.ether_type) {
            ETHERTYPE_IPV4 : parse_outer_ipv4;
            default        : accept;
        }
    }

    state parse_outer_ipv4 {
        packet.extract(hdr.outer_ipv4);
        verify(hdr.outer_ipv4.version == 4, error.Ipv4BadVersion);
        verify(hdr.outer_ipv4.ihl >= 5, error.Ipv4BadHeaderLength);
        // VTEPs send no options and no fragments; anything else is not VXLAN to us.
        transition select(hdr.outer_ipv4.ihl, hdr.outer_ipv4.frag_offset, hdr.outer_ipv4.protocol) {
            (5, 0, IP_PROTO_UDP) : parse_outer_udp;
            default              : accept;
        }
    }

    state parse_outer_udp {
        packet.extract(hdr.outer_udp);
        transition select(hdr.outer_udp.dst_port) {
            UDP_PORT_VXLAN : parse_vxlan;
            default        : accept;
        }
    }

    state parse_vxlan {
        packet.extract(hdr.vxlan);
        transition parse_inner_ethernet;
    }

    state parse_inner_ethernet {
        packet.extract(hdr.inner_ethernet);
        transition select(hdr.inner_ethernet.ether_type) {
            ETHERTYPE_VLAN : parse_inner_vlan;
            ETHERTYPE_IPV4 : parse_inner_ipv4;
            default        : accept;
        }
    }

    state parse_inner_vlan {
        packet.extract(hdr.inner_vlan);
        transition select(hdr.inner_vlan.ether_type) {
            ETHERTYPE_IPV4 : parse_inner_ipv4;
            default        : accept;
        }
    }

    state parse_inner_ipv4 {
        packet.extract(hdr.inner_ipv4);
        verify(hdr.inner_ipv4.version == 4, error.Ipv4BadVersion);
        verify(hdr.inner_ipv4.ihl >= 5, error.Ipv4BadHeaderLength);
        transition select(hdr.inner_ipv4.ihl) {
            5       : inner_l4;
            default : parse_inner_ipv4_options;
        }
    }

    state parse_inner_ipv4_options {
        packet.extract(hdr.inner_ipv4_options, ((bit<32>)hdr.inner_ipv4.ihl - 5) * 32);
        transition inner_l4;
    }

    // Only first fragments carry the L4 ports.
    state inner_l4 {
        transition select(hdr.inner_ipv4.frag_offset, hdr.inner_ipv4.protocol) {
            (0, IP_PROTO_TCP) : parse_inner_l4_ports;
            (0, IP_PROTO_UDP) : parse_inner_l4_ports;
            default           : accept;
        }
    }

    state parse_inner_l4_ports {
        packet.extract(hdr.inner_l4_ports);
        transition accept;
    }
}

control NveDeparser(packet_out packet, in headers_t hdr) {
    apply {
        packet.emit(hdr.packet_in);
        packet.emit(hdr.outer_ethernet);
        packet.emit(hdr.outer_ipv4);
        packet.emit(hdr.outer_udp);
        packet.emit(hdr.vxlan);
        packet.emit(hdr.inner_ethernet);
        packet.emit(hdr.inner_vlan);
        packet.emit(hdr.inner_ipv4);
        packet.emit(hdr.inner_ipv4_options);
        packet.emit(hdr.inner_l4_ports);
    }
}

#endif
