#ifndef NVE_CHECKSUM_P4
#define NVE_CHECKSUM_P4

#include <core.p4>
#include <v1model.p4>
#include "headers.p4"
#include "metadata.p4"

// A wrong IPv4 header checksum, outer or tenant, sets standard_metadata.checksum_error; ingress
// drops the frame as malformed.
control NveVerifyChecksum(inout headers_t hdr, inout local_metadata_t meta) {
    apply {
        verify_checksum(hdr.ipv4.isValid(),
            { hdr.ipv4.version, hdr.ipv4.ihl, hdr.ipv4.dscp, hdr.ipv4.ecn, hdr.ipv4.total_len,
              hdr.ipv4.identification, hdr.ipv4.flags, hdr.ipv4.frag_offset, hdr.ipv4.ttl,
              hdr.ipv4.protocol, hdr.ipv4.src_addr, hdr.ipv4.dst_addr,
              hdr.ipv4_options.options },
            hdr.ipv4.hdr_checksum, HashAlgorithm.csum16);
        verify_checksum(hdr.inner_ipv4.isValid(),
            { hdr.inner_ipv4.version, hdr.inner_ipv4.ihl, hdr.inner_ipv4.dscp, hdr.inner_ipv4.ecn,
              hdr.inner_ipv4.total_len, hdr.inner_ipv4.identification, hdr.inner_ipv4.flags,
              hdr.inner_ipv4.frag_offset, hdr.inner_ipv4.ttl, hdr.inner_ipv4.protocol,
              hdr.inner_ipv4.src_addr, hdr.inner_ipv4.dst_addr, hdr.inner_ipv4_options.options },
            hdr.inner_ipv4.hdr_checksum, HashAlgorithm.csum16);
    }
}

// Only the pushed underlay header is ever written by the NVE; the tenant's is left as sent.
control NveComputeChecksum(inout headers_t hdr, inout local_metadata_t meta) {
    apply {
        update_checksum(hdr.encap_ipv4.isValid(),
            { hdr.encap_ipv4.version, hdr.encap_ipv4.ihl, hdr.encap_ipv4.dscp, hdr.encap_ipv4.ecn,
              hdr.encap_ipv4.total_len, hdr.encap_ipv4.identification, hdr.encap_ipv4.flags,
              hdr.encap_ipv4.frag_offset, hdr.encap_ipv4.ttl, hdr.encap_ipv4.protocol,
              hdr.encap_ipv4.src_addr, hdr.encap_ipv4.dst_addr },
            hdr.encap_ipv4.hdr_checksum, HashAlgorithm.csum16);
    }
}

#endif
