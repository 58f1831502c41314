// Provenance record codec.  Layout (all integers big-endian, as in qcow2):
//   0  u32 magic "E2QP"        4  u16 version (1)   6  u16 length (bytes)
//   8  u8  kind                9  u8  digest type  10  u16 flags
//  12  u32 block size         16  u64 blocks count
//  24  i64 created (s)        32  u64 guest size
//  40  16  filesystem UUID    56  16  digest       72  16  base digest
//  88  u8  label length       89  u8  version length
//  90  u16 snapshot count     92  u16 base snapshot count   94  u16 zero
//  96  label, version string, snapshot IDs (u32), base snapshot IDs (u32)
#include "lib/image/provenance.h"

#include <cstring>

#include "lib/base/endian.h"

namespace e2q::image {

namespace {

bool AllZero(const Digest128& d) {
  for (uint8_t b : d) {
    if (b != 0) return false;
  }
  return true;
}

size_t EncodedSize(const Provenance& p) {
  return Provenance::kFixedSize + p.label.size() + p.tool_version.size() +
         4 * (p.snapshot_ids.size() + p.base_snapshot_ids.size());
}

}  // namespace

const char* ImageKindName(ImageKind kind) {
  switch (kind) {
    case ImageKind::kMetadata: return "metadata";
    case ImageKind::kFull: return "full";
    case ImageKind::kSnapshot: return "snapshot";
    case ImageKind::kMultiState: return "multi-state";
    case ImageKind::kIncremental: return "incremental";
    case ImageKind::kUndo: return "undo";
    case ImageKind::kConverted: return "converted";
  }
  return "unknown";
}

std::string FormatUuid(const std::array<uint8_t, 16>& u) {
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < u.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[u[i] >> 4];
    s += kHex[u[i] & 15];
  }
  return s;
}

Status Provenance::Validate() const {
  auto bad = [](const std::string& why) {
    return Status::InvalidArgument("provenance record: " + why);
  };
  const auto k = static_cast<uint8_t>(kind);
  if (k < 1 || k > 7) return bad("unknown kind " + std::to_string(k));
  if (digest_type != kDigestTypeXxh3Chunks) {
    return bad("unknown digest type " + std::to_string(digest_type));
  }
  if (flags & ~kKnownFlags) return bad("unknown flags");
  if (block_size != 0 &&
      (block_size < 1024 || block_size > 65536 ||
       (block_size & (block_size - 1)) != 0)) {
    return bad("block size " + std::to_string(block_size));
  }
  if (label.size() > kMaxLabel || label.find('\0') != std::string::npos) {
    return bad("label longer than 16 bytes or holding a NUL");
  }
  if (tool_version.size() > kMaxToolVersion) return bad("version too long");
  for (char c : tool_version) {
    if (c < 0x21 || c > 0x7e) return bad("version not printable");
  }
  if (snapshot_ids.size() > kMaxSnapshotIds ||
      base_snapshot_ids.size() > kMaxSnapshotIds) {
    return bad("more than 1024 snapshot IDs");
  }
  if (guest_size % 512 != 0) return bad("guest size not a multiple of 512");
  const bool all_data = flags & kFlagAllData;
  const bool live = flags & kFlagLive;
  switch (kind) {
    case ImageKind::kMetadata:
    case ImageKind::kFull:
      if (all_data != (kind == ImageKind::kFull)) {
        return bad("kind and all-data flag disagree");
      }
      if (!live || !snapshot_ids.empty()) {
        return bad("a live export holds no snapshot");
      }
      break;
    case ImageKind::kSnapshot:
      if (live || snapshot_ids.empty()) {
        return bad("a snapshot export names its snapshot and not live");
      }
      break;
    default:
      break;
  }
  if (kind == ImageKind::kIncremental) {
    if (AllZero(base_digest)) return bad("incremental without base digest");
  } else if (!AllZero(base_digest) || !base_snapshot_ids.empty()) {
    return bad("base recorded for an image that is not incremental");
  }
  return Status::OK();
}

std::vector<uint8_t> Provenance::Encode() const {
  std::vector<uint8_t> out(EncodedSize(*this), 0);
  uint8_t* p = out.data();
  StoreBE32(p + 0, kMagic);
  StoreBE16(p + 4, kVersion);
  StoreBE16(p + 6, static_cast<uint16_t>(out.size()));
  p[8] = static_cast<uint8_t>(kind);
  p[9] = digest_type;
  StoreBE16(p + 10, flags);
  StoreBE32(p + 12, block_size);
  StoreBE64(p + 16, blocks_count);
  StoreBE64(p + 24, static_cast<uint64_t>(created));
  StoreBE64(p + 32, guest_size);
  std::memcpy(p + 40, fs_uuid.data(), 16);
  std::memcpy(p + 56, digest.data(), 16);
  std::memcpy(p + 72, base_digest.data(), 16);
  p[88] = static_cast<uint8_t>(label.size());
  p[89] = static_cast<uint8_t>(tool_version.size());
  StoreBE16(p + 90, static_cast<uint16_t>(snapshot_ids.size()));
  StoreBE16(p + 92, static_cast<uint16_t>(base_snapshot_ids.size()));
  size_t at = kFixedSize;
  std::memcpy(p + at, label.data(), label.size());
  at += label.size();
  std::memcpy(p + at, tool_version.data(), tool_version.size());
  at += tool_version.size();
  for (uint32_t id : snapshot_ids) {
    StoreBE32(p + at, id);
    at += 4;
  }
  for (uint32_t id : base_snapshot_ids) {
    StoreBE32(p + at, id);
    at += 4;
  }
  return out;
}

Result<Provenance> Provenance::Decode(const std::string& name,
                                      const uint8_t* p, size_t len) {
  auto bad = [&](const std::string& why) {
    return Status::Corruption(name + ": provenance record: " + why);
  };
  if (len < 8) return bad("shorter than its header");
  if (LoadBE32(p) != kMagic) return bad("bad magic");
  const uint16_t version = LoadBE16(p + 4);
  if (version != kVersion) {
    return Status::NotSupported(name + ": provenance record: version " +
                                std::to_string(version) +
                                " (this e2qimage reads version 1)");
  }
  if (len < kFixedSize) return bad("shorter than its fixed part");
  if (LoadBE16(p + 6) != len) {
    return bad("length field " + std::to_string(LoadBE16(p + 6)) +
               " disagrees with the extension's " + std::to_string(len));
  }
  if (LoadBE16(p + 94) != 0) return bad("reserved field not zero");
  Provenance r;
  r.kind = static_cast<ImageKind>(p[8]);
  r.digest_type = p[9];
  r.flags = LoadBE16(p + 10);
  r.block_size = LoadBE32(p + 12);
  r.blocks_count = LoadBE64(p + 16);
  r.created = static_cast<int64_t>(LoadBE64(p + 24));
  r.guest_size = LoadBE64(p + 32);
  std::memcpy(r.fs_uuid.data(), p + 40, 16);
  std::memcpy(r.digest.data(), p + 56, 16);
  std::memcpy(r.base_digest.data(), p + 72, 16);
  const size_t label_len = p[88];
  const size_t version_len = p[89];
  const size_t n = LoadBE16(p + 90);
  const size_t m = LoadBE16(p + 92);
  if (label_len > kMaxLabel || version_len > kMaxToolVersion ||
      n > kMaxSnapshotIds || m > kMaxSnapshotIds) {
    return bad("variable-length field too long");
  }
  const size_t want = kFixedSize + label_len + version_len + 4 * (n + m);
  if (want != len) {
    return bad("fields need " + std::to_string(want) + " bytes, record has " +
               std::to_string(len));
  }
  size_t at = kFixedSize;
  r.label.assign(reinterpret_cast<const char*>(p + at), label_len);
  at += label_len;
  r.tool_version.assign(reinterpret_cast<const char*>(p + at), version_len);
  at += version_len;
  for (size_t i = 0; i < n; ++i, at += 4) r.snapshot_ids.push_back(LoadBE32(p + at));
  for (size_t i = 0; i < m; ++i, at += 4) {
    r.base_snapshot_ids.push_back(LoadBE32(p + at));
  }
  Status s = r.Validate();
  if (!s.ok()) return Status::Corruption(name + ": " + s.message());
  return r;
}

Result<std::optional<Provenance>> Provenance::Find(
    const std::string& name, const qcow2::Header& header) {
  const qcow2::HeaderExtension* found = nullptr;
  for (const auto& ext : header.extensions) {
    if (ext.type != qcow2::kExtE2qProvenance) continue;
    if (found != nullptr) {
      return Status::Corruption(name + ": two provenance records");
    }
    found = &ext;
  }
  if (found == nullptr) return std::optional<Provenance>();
  E2Q_ASSIGN_OR_RETURN(Provenance p, Decode(name, found->data.data(),
                                            found->data.size()));
  return std::optional<Provenance>(std::move(p));
}

}  // namespace e2q::image
