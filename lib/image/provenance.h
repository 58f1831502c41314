// Provenance: the record e2qimage stores in a qcow2 header extension of its
// own (type kExtE2qProvenance) in every qcow2 file it writes: where the
// image comes from (filesystem UUID, label, size), what it holds (kind,
// next3 snapshot IDs), when and by what it was made, and the digest of its
// guest content (lib/image/content_digest.h).  qemu keeps unknown extensions when
// it rewrites a header, so the record survives `qemu-img amend` and
// `qemu-img snapshot`.
//
// Encode() and Decode() are the only code that knows the byte layout
// (doc/qcow2-format.md, "Provenance record"); Decode() validates every field
// and the lengths before use.
#ifndef E2Q_LIB_IMAGE_PROVENANCE_H_
#define E2Q_LIB_IMAGE_PROVENANCE_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "lib/base/status.h"
#include "lib/image/content_digest.h"
#include "lib/qcow2/qcow2_format.h"

namespace e2q::image {

enum class ImageKind : uint8_t {
  kMetadata = 1,     // live filesystem, metadata blocks
  kFull = 2,         // live filesystem, every block in use (-a)
  kSnapshot = 3,     // one next3 snapshot (-x ID)
  kMultiState = 4,   // every state as internal snapshots (-X)
  kIncremental = 5,  // differences against a backing file (--backing)
  kUndo = 6,         // the blocks a rollback overwrote (-R)
  kConverted = 7,    // re-packed from a qcow2 input (-Q IMAGE.qcow2)
};

struct Provenance {
  static constexpr uint32_t kMagic = 0x45325150;  // "E2QP"
  static constexpr uint16_t kVersion = 1;
  static constexpr size_t kFixedSize = 96;
  static constexpr size_t kMaxLabel = 16;    // ext4 s_volume_name
  static constexpr size_t kMaxToolVersion = 32;
  static constexpr size_t kMaxSnapshotIds = 1024;

  // flags
  static constexpr uint16_t kFlagAllData = 1u << 0;    // -a: data blocks too
  static constexpr uint16_t kFlagLive = 1u << 1;       // holds the live fs
  static constexpr uint16_t kFlagScrambled = 1u << 2;  // -s: names replaced
  static constexpr uint16_t kKnownFlags = 7;

  ImageKind kind = ImageKind::kMetadata;
  uint16_t flags = kFlagLive;
  std::array<uint8_t, 16> fs_uuid{};  // all zero: unknown
  std::string label;                  // at most kMaxLabel bytes, no NUL
  uint32_t block_size = 0;            // 0 (unknown) or 1024..65536
  uint64_t blocks_count = 0;
  // next3 snapshot IDs whose states the image holds (the live filesystem is
  // kFlagLive, not an ID); empty for live exports.
  std::vector<uint32_t> snapshot_ids;
  std::string tool_version;           // printable ASCII, at most 32 bytes
  int64_t created = 0;                // seconds since 1970-01-01 UTC
  uint64_t guest_size = 0;            // bytes covered by the digest
  uint8_t digest_type = kDigestTypeXxh3Chunks;
  Digest128 digest{};
  // kIncremental only: the base's recorded digest and snapshot IDs.
  Digest128 base_digest{};
  std::vector<uint32_t> base_snapshot_ids;

  // kInvalidArgument naming the first field out of range.
  Status Validate() const;
  // The extension's data (Validate() must pass).
  std::vector<uint8_t> Encode() const;
  // Parses and validates extension data; `name` names the file in errors
  // (kCorruption, or kNotSupported for a newer record version).
  static Result<Provenance> Decode(const std::string& name, const uint8_t* p,
                                   size_t len);
  // The record in `header`'s extensions, or nullopt when there is none.
  static Result<std::optional<Provenance>> Find(const std::string& name,
                                                const qcow2::Header& header);
};

// "metadata", "full", "snapshot", "multi-state", "incremental", "undo",
// "converted".
const char* ImageKindName(ImageKind kind);
// 8-4-4-4-12 lowercase hex.
std::string FormatUuid(const std::array<uint8_t, 16>& uuid);

}  // namespace e2q::image

#endif  // E2Q_LIB_IMAGE_PROVENANCE_H_
