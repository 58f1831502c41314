// qcow2 header codec and refcount entry helpers.
#include "lib/qcow2/qcow2_format.h"

#include <algorithm>
#include <cstring>

#include "lib/base/endian.h"

namespace e2q::qcow2 {

namespace {

uint64_t Align8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }

}  // namespace

uint64_t L1Entries(uint64_t virtual_size, uint32_t cluster_bits) {
  const uint64_t per_l2 = L2Entries(cluster_bits) << cluster_bits;
  return virtual_size / per_l2 + (virtual_size % per_l2 != 0 ? 1 : 0);
}

Result<uint32_t> ChooseClusterBits(uint64_t virtual_size, uint32_t preferred,
                                   std::optional<uint32_t> requested) {
  if (requested) {
    if (!L1Fits(virtual_size, *requested)) {
      return Status::InvalidArgument(
          "too small for a " + std::to_string(virtual_size) +
          "-byte image (qemu refuses L1 tables over 32 MiB)");
    }
    return *requested;
  }
  uint32_t bits = std::max(preferred, kMinClusterBits);
  while (bits < kMaxClusterBits && !L1Fits(virtual_size, bits)) ++bits;
  return bits;
}

std::string Hex(uint64_t v) {
  char buf[32];
  snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

Status Header::EncodeTo(std::vector<uint8_t>* out) {
  const uint64_t cs = cluster_size();
  out->assign(cs, 0);
  uint8_t* p = out->data();
  if (version == 2) {
    header_length = kV2HeaderLength;
    refcount_order = 4;
  } else {
    header_length = compression_type != kCompressionDeflate
                        ? kV3HeaderLengthWithCompression
                        : kV3HeaderLength;
  }
  uint64_t pos = header_length;
  for (const auto& ext : extensions) pos += 8 + Align8(ext.data.size());
  pos += 8;  // end-of-extensions marker
  if (!backing_file.empty()) {
    if (backing_file.size() > kMaxBackingFileName) {
      return Status::InvalidArgument(backing_file +
                                     ": backing file name too long");
    }
    backing_file_offset = pos;
    backing_file_size = static_cast<uint32_t>(backing_file.size());
    pos += backing_file.size();
  } else {
    backing_file_offset = 0;
    backing_file_size = 0;
  }
  if (pos > cs) {
    return Status::InvalidArgument(
        "qcow2 header: header, extensions and backing file name need " +
        std::to_string(pos) + " bytes, more than one " + std::to_string(cs) +
        "-byte cluster");
  }
  StoreBE32(p + 0, kMagic);
  StoreBE32(p + 4, version);
  StoreBE64(p + 8, backing_file_offset);
  StoreBE32(p + 16, backing_file_size);
  StoreBE32(p + 20, cluster_bits);
  StoreBE64(p + 24, size);
  StoreBE32(p + 32, crypt_method);
  StoreBE32(p + 36, l1_size);
  StoreBE64(p + 40, l1_table_offset);
  StoreBE64(p + 48, refcount_table_offset);
  StoreBE32(p + 56, refcount_table_clusters);
  StoreBE32(p + 60, nb_snapshots);
  StoreBE64(p + 64, snapshots_offset);
  if (version >= 3) {
    uint64_t incompat = incompatible_features & ~kIncompatCompression;
    if (compression_type != kCompressionDeflate) incompat |= kIncompatCompression;
    StoreBE64(p + 72, incompat);
    StoreBE64(p + 80, compatible_features);
    StoreBE64(p + 88, autoclear_features);
    StoreBE32(p + 96, refcount_order);
    StoreBE32(p + 100, header_length);
    if (header_length > kV3HeaderLength) p[104] = compression_type;
  }
  uint64_t at = header_length;
  for (const auto& ext : extensions) {
    StoreBE32(p + at, ext.type);
    StoreBE32(p + at + 4, static_cast<uint32_t>(ext.data.size()));
    if (!ext.data.empty()) std::memcpy(p + at + 8, ext.data.data(), ext.data.size());
    at += 8 + Align8(ext.data.size());
  }
  at += 8;  // type 0, length 0: already zero
  if (!backing_file.empty()) {
    std::memcpy(p + at, backing_file.data(), backing_file.size());
  }
  return Status::OK();
}

Result<Header> Header::DecodeFrom(const std::string& name, const uint8_t* p,
                                  size_t len) {
  E2Q_ASSIGN_OR_RETURN(Header h, DecodeAny(name, p, len));
  if (h.incompatible_features & kIncompatDataFile) {
    return Status::NotSupported(name +
                                ": qcow2 header: external data files are not "
                                "supported");
  }
  if (h.incompatible_features & kIncompatExtendedL2) {
    return Status::NotSupported(
        name + ": qcow2 header: extended L2 entries are not supported");
  }
  if (h.crypt_method != 0) {
    return Status::NotSupported(name + ": qcow2 header: image is encrypted");
  }
  return h;
}

Result<Header> Header::DecodeAny(const std::string& name, const uint8_t* p,
                                 size_t len) {
  auto bad = [&](const std::string& why) {
    return Status::Corruption(name + ": qcow2 header: " + why);
  };
  if (len < kV2HeaderLength) return bad("file too short for a qcow2 header");
  if (LoadBE32(p) != kMagic) return bad("bad magic number, not a qcow2 image");
  Header h;
  h.version = LoadBE32(p + 4);
  if (h.version != 2 && h.version != 3) {
    return Status::NotSupported(name + ": qcow2 header: unsupported version " +
                                std::to_string(h.version));
  }
  h.backing_file_offset = LoadBE64(p + 8);
  h.backing_file_size = LoadBE32(p + 16);
  h.cluster_bits = LoadBE32(p + 20);
  h.size = LoadBE64(p + 24);
  h.crypt_method = LoadBE32(p + 32);
  h.l1_size = LoadBE32(p + 36);
  h.l1_table_offset = LoadBE64(p + 40);
  h.refcount_table_offset = LoadBE64(p + 48);
  h.refcount_table_clusters = LoadBE32(p + 56);
  h.nb_snapshots = LoadBE32(p + 60);
  h.snapshots_offset = LoadBE64(p + 64);
  if (h.cluster_bits < kMinClusterBits || h.cluster_bits > kMaxClusterBits) {
    return bad("cluster_bits " + std::to_string(h.cluster_bits) +
               " outside 9..21");
  }
  const uint64_t cs = h.cluster_size();
  if (h.version == 2) {
    h.header_length = kV2HeaderLength;
    h.refcount_order = 4;
  } else {
    if (len < kV3HeaderLength) return bad("file too short for a v3 header");
    h.incompatible_features = LoadBE64(p + 72);
    h.compatible_features = LoadBE64(p + 80);
    h.autoclear_features = LoadBE64(p + 88);
    h.refcount_order = LoadBE32(p + 96);
    h.header_length = LoadBE32(p + 100);
    if (h.header_length < kV3HeaderLength) return bad("header_length below 104");
    if (h.header_length % 8 != 0) return bad("header_length not a multiple of 8");
    if (h.header_length > cs) return bad("header_length larger than a cluster");
    if (h.header_length > len) return bad("header extends past end of file");
    if (h.header_length > kV3HeaderLength) h.compression_type = p[104];
    if (h.refcount_order > 6) {
      return bad("refcount_order " + std::to_string(h.refcount_order) +
                 " above 6");
    }
  }
  const uint64_t known_incompat = kIncompatDirty | kIncompatCorrupt |
                                  kIncompatDataFile | kIncompatCompression |
                                  kIncompatExtendedL2;
  if (h.incompatible_features & ~known_incompat) {
    return Status::NotSupported(
        name + ": qcow2 header: unknown incompatible feature bits " +
        Hex(h.incompatible_features & ~known_incompat));
  }
  // Autoclear bit 1 ("raw external data") only means something with an
  // external data file; qemu refuses it otherwise ("data-file-raw requires
  // a data file").
  if ((h.autoclear_features & kAutoclearDataFileRaw) &&
      !(h.incompatible_features & kIncompatDataFile)) {
    return bad("raw external data bit set without an external data file");
  }
  if (h.crypt_method > kCryptLuks) {
    return Status::NotSupported(name +
                                ": qcow2 header: unknown encryption "
                                "method " +
                                std::to_string(h.crypt_method));
  }
  bool has_ctype_bit = h.incompatible_features & kIncompatCompression;
  if (has_ctype_bit != (h.compression_type != 0)) {
    return bad("compression_type and incompatible bit 3 disagree");
  }
  if (h.compression_type > kCompressionZstd) {
    return Status::NotSupported(name + ": qcow2 header: compression type " +
                                std::to_string(h.compression_type));
  }
  if (h.size % 512 != 0) return bad("virtual size is not a multiple of 512");
  if (h.size > (uint64_t{1} << 62)) return bad("virtual size too large");
  auto aligned = [&](uint64_t off) { return off % cs == 0; };
  if (!aligned(h.l1_table_offset) || h.l1_table_offset >= kMaxHostOffset) {
    return bad("L1 table offset " + Hex(h.l1_table_offset) + " invalid");
  }
  if (!L1EntriesFit(h.l1_size)) return bad("active L1 table too large");
  // The L1 table must cover the virtual size.
  if (h.l1_size < L1Entries(h.size, h.cluster_bits)) {
    return bad("L1 table too small for the virtual size");
  }
  if (h.l1_size > 0 && h.l1_table_offset == 0) return bad("L1 table at offset 0");
  if (!aligned(h.refcount_table_offset) || h.refcount_table_offset == 0 ||
      h.refcount_table_offset >= kMaxHostOffset) {
    return bad("refcount table offset " + Hex(h.refcount_table_offset) +
               " invalid");
  }
  if (uint64_t{h.refcount_table_clusters} * cs > kMaxRefcountTableBytes ||
      h.refcount_table_clusters == 0) {
    return bad("refcount table size invalid");
  }
  if (h.nb_snapshots > kMaxSnapshots) return bad("too many snapshots");
  if (h.nb_snapshots > 0 &&
      (!aligned(h.snapshots_offset) || h.snapshots_offset == 0 ||
       h.snapshots_offset >= kMaxHostOffset)) {
    return bad("snapshot table offset invalid");
  }
  // Header extensions.
  uint64_t at = h.header_length;
  const uint64_t ext_end = std::min<uint64_t>(cs, len);
  for (int guard = 0;; ++guard) {
    if (guard > 1024) return bad("too many header extensions");
    if (at + 8 > ext_end) return bad("header extensions run past cluster 0");
    uint32_t type = LoadBE32(p + at);
    uint32_t elen = LoadBE32(p + at + 4);
    at += 8;
    if (type == kExtEnd) break;
    if (elen > ext_end - at) return bad("header extension runs past cluster 0");
    HeaderExtension ext;
    ext.type = type;
    ext.data.assign(p + at, p + at + elen);
    h.extensions.push_back(std::move(ext));
    at += Align8(elen);
  }
  if (h.backing_file_offset != 0) {
    if (h.backing_file_size == 0 || h.backing_file_size > kMaxBackingFileName) {
      return bad("backing file name length invalid");
    }
    if (h.backing_file_offset > cs ||
        h.backing_file_size > cs - h.backing_file_offset) {
      return bad("backing file name too long");
    }
    if (h.backing_file_offset + h.backing_file_size > len) {
      return bad("backing file name past end of file");
    }
    h.backing_file.assign(
        reinterpret_cast<const char*>(p + h.backing_file_offset),
        h.backing_file_size);
  }
  return h;
}

uint64_t GetRefcount(const uint8_t* block, uint64_t index, uint32_t order) {
  switch (order) {
    case 0:
      return (block[index / 8] >> (index % 8)) & 1;
    case 1:
      return (block[index / 4] >> (2 * (index % 4))) & 3;
    case 2:
      return (block[index / 2] >> (4 * (index % 2))) & 15;
    case 3:
      return block[index];
    case 4:
      return LoadBE16(block + 2 * index);
    case 5:
      return LoadBE32(block + 4 * index);
    default:
      return LoadBE64(block + 8 * index);
  }
}

void SetRefcount(uint8_t* block, uint64_t index, uint32_t order,
                 uint64_t value) {
  switch (order) {
    case 0:
    case 1:
    case 2: {
      uint32_t bits = 1u << order;
      uint32_t per_byte = 8 / bits;
      uint32_t shift = bits * (index % per_byte);
      uint8_t mask = static_cast<uint8_t>(((1u << bits) - 1) << shift);
      uint8_t& b = block[index / per_byte];
      b = static_cast<uint8_t>((b & ~mask) | ((value << shift) & mask));
      break;
    }
    case 3:
      block[index] = static_cast<uint8_t>(value);
      break;
    case 4:
      StoreBE16(block + 2 * index, static_cast<uint16_t>(value));
      break;
    case 5:
      StoreBE32(block + 4 * index, static_cast<uint32_t>(value));
      break;
    default:
      StoreBE64(block + 8 * index, value);
  }
}

Status CheckCompressionType(const std::string& file, uint8_t type,
                            uint32_t version, bool too_late) {
  if (too_late) {
    return Status::InvalidArgument(file +
                                   ": qcow2: compression type set too late");
  }
  if (type != kCompressionDeflate && version < 3) {
    return Status::InvalidArgument(
        file + ": qcow2: zstd compression needs compat 1.1");
  }
  return Status::OK();
}

}  // namespace e2q::qcow2
