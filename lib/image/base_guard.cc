// BaseGuard record and the replaced-content digest (base_guard.h).
#include "lib/image/base_guard.h"

#include <xxhash.h>

#include <cstring>

#include "lib/base/endian.h"

namespace e2q::image {

namespace {

constexpr uint32_t kReplacedMagic = 0x45325152;  // "E2QR"

Digest128 Canonical(XXH128_hash_t h) {
  XXH128_canonical_t c;
  XXH128_canonicalFromHash(&c, h);
  Digest128 d;
  std::memcpy(d.data(), c.digest, d.size());
  return d;
}

}  // namespace

// Layout (big-endian): magic u32, version u16, reserved u16 (0), cluster
// bits u32, mount count u16, reserved u16 (0), clusters u64, mtime u32,
// wtime u32, replaced digest [16], superblock digest [16], free blocks
// u32, free inodes u32.
std::vector<uint8_t> BaseGuard::Encode() const {
  std::vector<uint8_t> r(kSize, 0);
  StoreBE32(&r[0], kMagic);
  StoreBE16(&r[4], kVersion);
  StoreBE32(&r[8], cluster_bits);
  StoreBE16(&r[12], mnt_count);
  StoreBE64(&r[16], clusters);
  StoreBE32(&r[24], mtime);
  StoreBE32(&r[28], wtime);
  std::memcpy(&r[32], replaced.data(), 16);
  std::memcpy(&r[48], superblock.data(), 16);
  StoreBE32(&r[64], free_blocks);
  StoreBE32(&r[68], free_inodes);
  return r;
}

Result<BaseGuard> BaseGuard::Decode(const std::string& name, const uint8_t* p,
                                    size_t len) {
  auto bad = [&name](const std::string& why) {
    return Status::Corruption(name + ": base guard record: " + why);
  };
  if (len < kSize) return bad("too short");
  if (LoadBE32(p) != kMagic) return bad("bad magic");
  const uint16_t version = LoadBE16(p + 4);
  if (version > kVersion) {
    return Status::NotSupported(name + ": base guard record version " +
                                std::to_string(version) +
                                " is newer than this e2qimage");
  }
  if (version == 0) return bad("version 0");
  BaseGuard g;
  g.cluster_bits = LoadBE32(p + 8);
  if (g.cluster_bits < 9 || g.cluster_bits > 21) return bad("bad cluster bits");
  g.mnt_count = LoadBE16(p + 12);
  g.clusters = LoadBE64(p + 16);
  g.mtime = LoadBE32(p + 24);
  g.wtime = LoadBE32(p + 28);
  std::memcpy(g.replaced.data(), p + 32, 16);
  std::memcpy(g.superblock.data(), p + 48, 16);
  g.free_blocks = LoadBE32(p + 64);
  g.free_inodes = LoadBE32(p + 68);
  return g;
}

Result<std::optional<BaseGuard>> BaseGuard::Find(const std::string& name,
                                                 const qcow2::Header& header) {
  for (const qcow2::HeaderExtension& e : header.extensions) {
    if (e.type != kExtE2qBaseGuard) continue;
    E2Q_ASSIGN_OR_RETURN(BaseGuard g,
                         Decode(name, e.data.data(), e.data.size()));
    return std::optional<BaseGuard>(g);
  }
  return std::optional<BaseGuard>();
}

void SetGuardSuperblock(const uint8_t* sb, BaseGuard* g) {
  g->superblock = Canonical(XXH3_128bits(sb, 1024));
  g->mtime = LoadLE32(sb + 0x2C);
  g->wtime = LoadLE32(sb + 0x30);
  g->mnt_count = LoadLE16(sb + 0x34);
  g->free_blocks = LoadLE32(sb + 0x0C);
  g->free_inodes = LoadLE32(sb + 0x10);
}

struct ReplacedDigest::State {
  XXH3_state_t* xxh = nullptr;
  ~State() { XXH3_freeState(xxh); }
};

ReplacedDigest::ReplacedDigest(uint32_t cluster_bits)
    : state_(std::make_unique<State>()), bits_(cluster_bits) {
  state_->xxh = XXH3_createState();
  XXH3_128bits_reset(state_->xxh);
  uint8_t head[12];
  StoreBE32(head, kReplacedMagic);
  StoreBE32(head + 4, 1);
  StoreBE32(head + 8, cluster_bits);
  XXH3_128bits_update(state_->xxh, head, sizeof head);
}

ReplacedDigest::~ReplacedDigest() = default;

void ReplacedDigest::Add(uint64_t index, const uint8_t* content) {
  uint8_t idx[8];
  StoreBE64(idx, index);
  XXH3_128bits_update(state_->xxh, idx, sizeof idx);
  const size_t cs = size_t{1} << bits_;
  if (content == nullptr) {
    if (zeros_.empty()) zeros_.assign(cs, 0);
    content = zeros_.data();
  }
  XXH3_128bits_update(state_->xxh, content, cs);
  ++clusters_;
}

Digest128 ReplacedDigest::Final() const {
  return Canonical(XXH3_128bits_digest(state_->xxh));
}

}  // namespace e2q::image
