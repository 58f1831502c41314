// ClusterDedup: content index of a qcow2 writer's clusters and L2 tables,
// verified by reading the stored bytes back.
#include "lib/qcow2/cluster_dedup.h"

#include <xxhash.h>

#include "config.h"
#if defined(HAVE_XXH_X86DISPATCH_H) && defined(HAVE_XXH3_128BITS_DISPATCH)
// XXH3 with the vector width of this CPU (content_digest.cc says why).
#include <xxh_x86dispatch.h>
#endif

#include <algorithm>
#include <cstring>

#include "lib/base/endian.h"
#include "lib/qcow2/qcow2_format.h"

namespace e2q::qcow2 {

ClusterDedup::ClusterDedup(Qcow2FileBuilder* file) : file_(file) {}

ClusterDedup::~ClusterDedup() = default;

uint64_t ClusterDedup::Hash(const uint8_t* data, size_t len) {
  // The low half of XXH3-128: the content digest computes XXH3-128 of
  // every 64 KiB chunk anyway, and hands it on (ClusterTarget::KnowHashes).
  return XXH3_128bits(data, len).low64;
}

bool ClusterDedup::BelowCap(uint64_t start, uint64_t end,
                            uint64_t slack) const {
  const uint64_t cs = file_->cluster_size();
  for (uint64_t c = start & ~(cs - 1); c < end; c += cs) {
    if (file_->RefcountAt(c) + slack >= kShareCap) return false;
  }
  return true;
}

Result<StoredCluster> ClusterDedup::FindCluster(uint64_t hash,
                                                const uint8_t* data,
                                                uint64_t slack) {
  const StoredCluster* found = clusters_.Find(hash);
  if (found == nullptr) return StoredCluster{};
  const StoredCluster stored = *found;
  const uint64_t entry = stored.entry;
  const uint64_t cs = file_->cluster_size();
  if (entry & kOflagCompressed) {
    CompressedLayout layout(file_->cluster_bits());
    const uint64_t off = layout.Offset(entry);
    const uint64_t len = std::min(layout.Length(entry), file_->pos() - off);
    if (!BelowCap(off, off + len, slack)) return StoredCluster{};
    stored_.resize(len);
    E2Q_RETURN_IF_ERROR(file_->ReadBack(off, stored_.data(), len));
    if (!decompressor_) {
      E2Q_ASSIGN_OR_RETURN(decompressor_,
                           ClusterDecompressor::Create(compression_type_));
    }
    plain_.resize(cs);
    E2Q_RETURN_IF_ERROR(
        decompressor_->Decompress(stored_.data(), len, plain_.data(), cs)
            .WithContext(file_->file()->name() + ": qcow2: read back"));
  } else {
    const uint64_t host = entry & kL2OffsetMask;
    if (!BelowCap(host, host + cs, slack)) return StoredCluster{};
    plain_.resize(cs);
    E2Q_RETURN_IF_ERROR(file_->ReadBack(host, plain_.data(), cs));
  }
  if (std::memcmp(plain_.data(), data, cs) != 0) return StoredCluster{};
  return stored;
}

namespace {

// Records `value` under `hash` in one of the indexes.  A hash already there
// is a collision, or a copy stored because the first one was full: the
// newer one, with room for references, replaces it.  A full index takes no
// new hashes.
template <typename V>
void Remember(HashIndex<V>* index, uint64_t hash, const V& value) {
  if (index->size() < ClusterDedup::kMaxEntries ||
      index->Find(hash) != nullptr) {
    index->Set(hash, value);
  }
}

}  // namespace

void ClusterDedup::RememberCluster(uint64_t hash, StoredCluster stored) {
  Remember(&clusters_, hash, stored);
}

Result<uint64_t> ClusterDedup::FindTable(const std::vector<uint64_t>& table,
                                         uint64_t* hash) {
  const size_t bytes = table.size() * 8;
  encoded_.resize(bytes);
  for (size_t i = 0; i < table.size(); ++i) {
    StoreBE64(&encoded_[i * 8], table[i]);
  }
  *hash = Hash(encoded_.data(), bytes);
  const TableOffset* found = tables_.Find(*hash);
  if (found == nullptr) return uint64_t{0};
  const uint64_t offset = found->offset;
  if (!BelowCap(offset, offset + bytes)) return uint64_t{0};
  stored_.resize(bytes);
  E2Q_RETURN_IF_ERROR(file_->ReadBack(offset, stored_.data(), bytes));
  return std::memcmp(stored_.data(), encoded_.data(), bytes) == 0 ? offset : 0;
}

void ClusterDedup::RememberTable(uint64_t hash, uint64_t offset) {
  Remember(&tables_, hash, TableOffset{offset});
}

}  // namespace e2q::qcow2
