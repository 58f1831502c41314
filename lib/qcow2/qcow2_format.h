// lib/qcow2: qcow2 v2/v3 -- this format codec, the streaming and
// multi-snapshot writers, the reader with its L2 cache and decompression,
// and cluster compression.  Namespace e2q::qcow2; includes only lib/base
// and lib/io.
//
// The qcow2 on-disk format: constants named as in qemu's
// docs/interop/qcow2.rst, the header codec, and entry helpers shared by the
// reader and the writer.  All integers on disk are big-endian.
#ifndef E2Q_LIB_QCOW2_QCOW2_FORMAT_H_
#define E2Q_LIB_QCOW2_QCOW2_FORMAT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/base/status.h"

namespace e2q::qcow2 {

constexpr uint32_t kMagic = 0x514649fb;  // "QFI\xfb"
constexpr uint32_t kV2HeaderLength = 72;
constexpr uint32_t kV3HeaderLength = 104;
constexpr uint32_t kV3HeaderLengthWithCompression = 112;
constexpr uint32_t kMinClusterBits = 9;
constexpr uint32_t kMaxClusterBits = 21;
// qemu-img create's default: 64 KiB.
constexpr uint32_t kDefaultClusterBits = 16;

// qemu's implementation limits (block/qcow2.h).
constexpr uint64_t kMaxL1Bytes = 32u << 20;          // QCOW_MAX_L1_SIZE
constexpr uint64_t kMaxRefcountTableBytes = 8u << 20;  // QCOW_MAX_REFTABLE_SIZE
constexpr uint64_t kMaxHostOffset = uint64_t{1} << 56;
constexpr uint32_t kMaxSnapshots = 65536;
constexpr uint64_t kMaxSnapshotTableBytes = 64u << 20;
constexpr uint32_t kMaxSnapshotExtraData = 1024;
constexpr uint32_t kMaxBackingFileName = 1023;

// Incompatible feature bits.
constexpr uint64_t kIncompatDirty = 1u << 0;
constexpr uint64_t kIncompatCorrupt = 1u << 1;
constexpr uint64_t kIncompatDataFile = 1u << 2;
constexpr uint64_t kIncompatCompression = 1u << 3;
constexpr uint64_t kIncompatExtendedL2 = 1u << 4;
constexpr uint64_t kCompatLazyRefcounts = 1u << 0;
// Autoclear bit 1: the external data file is a raw image of the guest.
constexpr uint64_t kAutoclearDataFileRaw = 1u << 1;

// crypt_method values.
constexpr uint32_t kCryptNone = 0;
constexpr uint32_t kCryptAes = 1;
constexpr uint32_t kCryptLuks = 2;

constexpr uint8_t kCompressionDeflate = 0;
constexpr uint8_t kCompressionZstd = 1;

// Header extension types.
constexpr uint32_t kExtEnd = 0x00000000;
constexpr uint32_t kExtBackingFormat = 0xe2792aca;
constexpr uint32_t kExtFeatureTable = 0x6803f857;
constexpr uint32_t kExtBitmaps = 0x23852875;
constexpr uint32_t kExtCrypto = 0x0537be77;
constexpr uint32_t kExtDataFile = 0x44415441;
// e2qimage's own provenance record (see doc/qcow2-format.md).
constexpr uint32_t kExtE2qProvenance = 0xe2e2a9e0;

// L1/L2 entry bits.
constexpr uint64_t kOflagCopied = uint64_t{1} << 63;
constexpr uint64_t kOflagCompressed = uint64_t{1} << 62;
constexpr uint64_t kOflagZero = 1;
constexpr uint64_t kL1OffsetMask = 0x00fffffffffffe00ULL;
constexpr uint64_t kL2OffsetMask = 0x00fffffffffffe00ULL;
constexpr uint64_t kRefTableOffsetMask = 0xfffffffffffffe00ULL;

struct HeaderExtension {
  uint32_t type = 0;
  std::vector<uint8_t> data;
};

// The header, version 2 or 3.  Fields absent in version 2 keep their
// implied values (refcount_order 4, header_length 72).
struct Header {
  uint32_t version = 3;
  uint64_t backing_file_offset = 0;
  uint32_t backing_file_size = 0;
  uint32_t cluster_bits = 16;
  uint64_t size = 0;
  uint32_t crypt_method = 0;
  uint32_t l1_size = 0;
  uint64_t l1_table_offset = 0;
  uint64_t refcount_table_offset = 0;
  uint32_t refcount_table_clusters = 0;
  uint32_t nb_snapshots = 0;
  uint64_t snapshots_offset = 0;
  uint64_t incompatible_features = 0;
  uint64_t compatible_features = 0;
  uint64_t autoclear_features = 0;
  uint32_t refcount_order = 4;
  uint32_t header_length = kV3HeaderLength;
  uint8_t compression_type = kCompressionDeflate;

  std::vector<HeaderExtension> extensions;  // excluding the end marker
  std::string backing_file;

  uint64_t cluster_size() const { return uint64_t{1} << cluster_bits; }

  // Serialises header, extensions and backing file name into the first
  // cluster.  Sets backing_file_offset/size and header_length itself.
  // Fails if it all does not fit in one cluster.
  Status EncodeTo(std::vector<uint8_t>* cluster0);

  // Parses and validates the fixed header from the first bytes of the file
  // (at least min(file size, cluster size) bytes, `len` of them valid).
  // `name` names the file in errors.  Does not read the backing file name
  // beyond `len`.  Refuses what only a full reader handles: an external
  // data file, extended L2 entries, encryption.
  static Result<Header> DecodeFrom(const std::string& name, const uint8_t* p,
                                   size_t len);
  // The same checks of the structure, accepting every feature that qemu
  // 7.2 defines (external data file, extended L2 entries, AES and LUKS
  // encryption): for describing an image, and for the reader, which
  // decides itself what it can read.
  static Result<Header> DecodeAny(const std::string& name, const uint8_t* p,
                                  size_t len);
};

// "0x..." for error messages about offsets and entries.
std::string Hex(uint64_t v);

// Number of L2 entries in one L2 table (standard 64-bit entries).
inline uint64_t L2Entries(uint32_t cluster_bits) {
  return uint64_t{1} << (cluster_bits - 3);
}

// The image geometry rule, the one place it is written: the L1 table of a
// `virtual_size`-byte disk with 2^cluster_bits-byte clusters has
// L1Entries() entries, and qemu opens it only if they fit in kMaxL1Bytes.
uint64_t L1Entries(uint64_t virtual_size, uint32_t cluster_bits);
inline bool L1EntriesFit(uint64_t entries) {
  return entries <= kMaxL1Bytes / 8;
}
inline bool L1Fits(uint64_t virtual_size, uint32_t cluster_bits) {
  return L1EntriesFit(L1Entries(virtual_size, cluster_bits));
}

// The cluster size (as bits) of a new `virtual_size`-byte image: `requested`
// when given (an error if its L1 table would not fit), otherwise the
// smallest size from `preferred` up (at least 512 B, at most 2 MiB) whose
// L1 table fits.  `requested` must lie in [kMinClusterBits,
// kMaxClusterBits].
Result<uint32_t> ChooseClusterBits(uint64_t virtual_size, uint32_t preferred,
                                   std::optional<uint32_t> requested);

// Compressed-cluster descriptor layout (qcow2.rst "Compressed Clusters
// Descriptor"): x = 62 - (cluster_bits - 8).
struct CompressedLayout {
  uint32_t csize_shift;
  uint64_t csize_mask;
  uint64_t offset_mask;
  explicit CompressedLayout(uint32_t cluster_bits)
      : csize_shift(62 - (cluster_bits - 8)),
        csize_mask((uint64_t{1} << (cluster_bits - 8)) - 1),
        offset_mask((uint64_t{1} << (62 - (cluster_bits - 8))) - 1) {}
  // Entry for compressed data of `len` bytes at host byte `offset`.
  uint64_t Encode(uint64_t offset, uint64_t len) const {
    uint64_t nsectors = ((offset + len - 1) >> 9) - (offset >> 9);
    return kOflagCompressed | (nsectors << csize_shift) | offset;
  }
  uint64_t Offset(uint64_t entry) const { return entry & offset_mask; }
  // Bytes from Offset() to the end of the last sector holding the data.
  uint64_t Length(uint64_t entry) const {
    uint64_t nsectors = ((entry >> csize_shift) & csize_mask) + 1;
    return nsectors * 512 - (Offset(entry) & 511);
  }
};

// Whether a writer of `file` may still set compression type `type` for an
// image of `version`: not once clusters were added (`too_late`), and only
// deflate before version 3.
Status CheckCompressionType(const std::string& file, uint8_t type,
                            uint32_t version, bool too_late);

// Refcount entries of width 1 << order bits in a refcount block.
uint64_t GetRefcount(const uint8_t* block, uint64_t index, uint32_t order);
void SetRefcount(uint8_t* block, uint64_t index, uint32_t order,
                 uint64_t value);

}  // namespace e2q::qcow2

#endif  // E2Q_LIB_QCOW2_QCOW2_FORMAT_H_
