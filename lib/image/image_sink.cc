// RawSink and Qcow2Sink: turn runs of guest bytes into a raw sparse file or
// a qcow2 image.
#include "lib/image/image_sink.h"

#include <algorithm>
#include <cstring>

#include "lib/base/is_zero.h"
#include "lib/image/base_content.h"
#include "lib/image/base_guard.h"
#include "lib/qcow2/cluster_compressor.h"

namespace e2q::image {

namespace {

class RawSink : public ImageSink {
 public:
  RawSink(io::File* out, uint64_t size, bool sparse, uint32_t granularity)
      : out_(out), size_(size), sparse_(sparse), gran_(granularity) {}

  Status Write(uint64_t offset, const uint8_t* data, size_t len) override {
    if (offset + len > size_) {
      return Status::InvalidArgument(out_->name() +
                                     ": write past the end of the image");
    }
    if (!sparse_) return out_->WriteAt(offset, data, len);
    // Write maximal non-zero stretches; skip zero granules (holes).
    size_t i = 0;
    while (i < len) {
      size_t g = std::min<size_t>(len - i, gran_ - (offset + i) % gran_);
      if (IsZero(data + i, g)) {
        i += g;
        continue;
      }
      size_t j = i + g;
      while (j < len) {
        size_t h = std::min<size_t>(len - j, gran_);
        if (IsZero(data + j, h)) break;
        j += h;
      }
      E2Q_RETURN_IF_ERROR(out_->WriteAt(offset + i, data + i, j - i));
      i = j;
    }
    return Status::OK();
  }

  Status Finish() override { return out_->Truncate(size_); }

 private:
  io::File* out_;
  uint64_t size_;
  bool sparse_;
  uint32_t gran_;
};

// Clusters arrive in guest order; partial clusters are assembled in a
// buffer.  Compressed output goes through batches so that all threads work
// while the order of offsets stays the guest order; so does everything for
// a target that reuses clusters, so that it checks a batch at a time.
class Qcow2Sink : public ImageSink {
 public:
  Qcow2Sink(qcow2::ClusterTarget* writer, qcow2::ClusterCompressor* compressor,
            BaseContent* base, IncrementalHooks hooks)
      : writer_(writer),
        compressor_(compressor),
        base_(base),
        hooks_(std::move(hooks)),
        cs_(writer->cluster_size()),
        bits_(writer->cluster_bits()),
        cur_(cs_, 0),
        batching_(compressor_ != nullptr || writer->wants_batches()) {
    if (batching_) batch_.reserve(kBatchClusters * cs_);
  }

  void KnowChunks(uint64_t offset, const ChunkHasher::Slot* slots,
                  size_t n) override {
    // Only where clusters go straight to the writer in runs, and are no
    // larger than the digest's chunks (a zero chunk is zero clusters).
    if (cs_ > kDigestChunkSize || batching_ || base_) return;
    known_first_ = offset >> kDigestChunkBits;
    known_nonzero_.resize(n);
    for (size_t k = 0; k < n; ++k) known_nonzero_[k] = slots[k].nonzero;
    if (cs_ != kDigestChunkSize) return;
    // The clusters are the chunks: their hashes too.
    known_hashes_.resize(n);
    for (size_t k = 0; k < n; ++k) {
      known_hashes_[k] = slots[k].nonzero ? DedupHashOf(slots[k].hash) : 0;
    }
    writer_->KnowHashes(offset >> bits_, known_hashes_.data(), n);
  }

  Status Write(uint64_t offset, const uint8_t* data, size_t len) override {
    while (len > 0) {
      uint64_t index = offset >> bits_;
      uint64_t in = offset & (cs_ - 1);
      if (have_cur_ && index != cur_index_) E2Q_RETURN_IF_ERROR(FlushCur());
      if (in == 0 && len >= cs_ && !have_cur_) {
        // Whole clusters straight from the caller's buffer; runs of
        // non-zero clusters go to the writer in one call when uncompressed.
        size_t n = len / cs_;
        for (size_t k = 0; k < n;) {
          if (batching_ || base_) {
            E2Q_RETURN_IF_ERROR(Emit(index + k, data + k * cs_));
            ++k;
            continue;
          }
          // Each cluster is looked at once (metadata images are full of
          // zero clusters, and a zero one is scanned to its end): a zero
          // cluster is left out, a run of non-zero ones goes in one call,
          // and the zero cluster that ended the run is passed over.
          if (Zero(index + k, data + k * cs_)) {
            ++k;
            continue;
          }
          size_t run = 1;
          while (k + run < n &&
                 !Zero(index + k + run, data + (k + run) * cs_)) {
            ++run;
          }
          E2Q_RETURN_IF_ERROR(
              writer_->AddDataClusters(index + k, data + k * cs_, run));
          k += run + 1;  // past the zero cluster, or past the end
        }
        offset += n * cs_;
        data += n * cs_;
        len -= n * cs_;
        continue;
      }
      if (!have_cur_) {
        std::fill(cur_.begin(), cur_.end(), 0);
        cur_index_ = index;
        have_cur_ = true;
      }
      size_t n = std::min<uint64_t>(len, cs_ - in);
      std::memcpy(cur_.data() + in, data, n);
      offset += n;
      data += n;
      len -= n;
    }
    return Status::OK();
  }

  Status Finish() override {
    if (have_cur_) E2Q_RETURN_IF_ERROR(FlushCur());
    if (base_) E2Q_RETURN_IF_ERROR(Gap(writer_->guest_clusters()));
    E2Q_RETURN_IF_ERROR(FlushBatch());
    if (hooks_.before_finish) E2Q_RETURN_IF_ERROR(hooks_.before_finish());
    return writer_->Finish();
  }

 private:
  static constexpr size_t kBatchClusters = 256;

  Status FlushCur() {
    have_cur_ = false;
    return Emit(cur_index_, cur_.data());
  }

  // Whether guest cluster `index`, whose bytes are at `data`, is all zeros:
  // as KnowChunks() said, or by looking.
  bool Zero(uint64_t index, const uint8_t* data) const {
    const uint64_t k = ((index << bits_) >> kDigestChunkBits) - known_first_;
    if (k < known_nonzero_.size()) {
      if (!known_nonzero_[k]) return true;
      if (cs_ == kDigestChunkSize) return false;
    }
    return IsZero(data, cs_);
  }

  Status Emit(uint64_t index, const uint8_t* data) {
    if (base_) return EmitDelta(index, data);
    if (IsZero(data, cs_)) return Status::OK();
    return Store(index, data);
  }

  // Incremental: compare with the base (see NewQcow2Sink).
  Status EmitDelta(uint64_t index, const uint8_t* data) {
    E2Q_RETURN_IF_ERROR(Gap(index));
    next_ = index + 1;
    E2Q_ASSIGN_OR_RETURN(const uint8_t* b, base_->Cluster(index));
    const bool zero = IsZero(data, cs_);
    if (b == nullptr ? zero : std::memcmp(b, data, cs_) == 0) {
      return Status::OK();
    }
    if (hooks_.replaced) hooks_.replaced->Add(index, b);
    return zero ? StoreZero(index) : Store(index, data);
  }

  // Clusters [next_, end) were not written, so they read as zeros: hide
  // the base wherever it is not zero.
  Status Gap(uint64_t end) {
    if (next_ < end) {
      E2Q_RETURN_IF_ERROR(
          base_->ForEachNonZero(next_, end, [this](uint64_t c) -> Status {
            if (hooks_.replaced) {
              E2Q_ASSIGN_OR_RETURN(const uint8_t* b, base_->Cluster(c));
              hooks_.replaced->Add(c, b);
            }
            return StoreZero(c);
          }));
    }
    next_ = std::max(next_, end);
    return Status::OK();
  }

  Status StoreZero(uint64_t index) {
    if (writer_->version() < 3) {
      if (zeros_.empty()) zeros_.assign(cs_, 0);
      return Store(index, zeros_.data());
    }
    E2Q_RETURN_IF_ERROR(FlushBatch());  // the writer takes clusters in order
    return writer_->AddZeroCluster(index);
  }

  Status Store(uint64_t index, const uint8_t* data) {
    if (!batching_) return writer_->AddDataCluster(index, data);
    batch_.insert(batch_.end(), data, data + cs_);
    batch_index_.push_back(index);
    if (batch_index_.size() == kBatchClusters) return FlushBatch();
    return Status::OK();
  }

  Status FlushBatch() {
    const size_t n = batch_index_.size();
    if (n == 0) return Status::OK();
    // Clusters the target can reuse are neither compressed nor stored; the
    // rest are compressed from a packed copy.
    const uint8_t* to_compress = batch_.data();
    size_t n_compress = n;
    if (writer_->reuses_clusters()) {
      E2Q_RETURN_IF_ERROR(writer_->FindReusable(batch_index_.data(),
                                                batch_.data(), n, &reusable_));
      packed_.clear();
      for (size_t k = 0; k < n; ++k) {
        if (!reusable_[k]) {
          packed_.insert(packed_.end(), &batch_[k * cs_],
                         &batch_[k * cs_] + cs_);
        }
      }
      to_compress = packed_.data();
      n_compress = packed_.size() / cs_;
    } else {
      reusable_.assign(n, 0);
    }
    if (!compressor_) {
      compressed_.assign(n_compress, {});
    } else if (n_compress > 0) {
      E2Q_RETURN_IF_ERROR(
          compressor_->CompressBatch(to_compress, n_compress, &compressed_));
    }
    size_t c = 0;
    for (size_t k = 0; k < n; ++k) {
      const uint64_t index = batch_index_[k];
      if (reusable_[k]) {
        E2Q_RETURN_IF_ERROR(writer_->AddReusedCluster(index));
        continue;
      }
      const auto& z = compressed_[c];
      if (z.empty()) {
        E2Q_RETURN_IF_ERROR(
            writer_->AddDataCluster(index, to_compress + c * cs_));
      } else {
        E2Q_RETURN_IF_ERROR(
            writer_->AddCompressedCluster(index, z.data(), z.size()));
      }
      ++c;
    }
    batch_.clear();
    batch_index_.clear();
    return Status::OK();
  }

  qcow2::ClusterTarget* writer_;
  qcow2::ClusterCompressor* compressor_;
  BaseContent* base_;
  const IncrementalHooks hooks_;
  uint64_t next_ = 0;          // with base_: clusters below are decided
  std::vector<uint8_t> zeros_;  // an explicit zero cluster (version 2)
  const uint64_t cs_;
  const uint32_t bits_;
  std::vector<uint8_t> cur_;
  uint64_t cur_index_ = 0;
  bool have_cur_ = false;
  std::vector<uint8_t> batch_;
  std::vector<uint64_t> batch_index_;
  std::vector<std::vector<uint8_t>> compressed_;
  const bool batching_;
  std::vector<uint8_t> reusable_;
  std::vector<uint8_t> packed_;
  // From KnowChunks(): digest chunks [known_first_, + size()).
  uint64_t known_first_ = 0;
  std::vector<uint8_t> known_nonzero_;
  std::vector<uint64_t> known_hashes_;
};

}  // namespace

std::unique_ptr<ImageSink> NewRawSink(io::File* out, uint64_t size, bool sparse,
                                      uint32_t hole_granularity) {
  return std::make_unique<RawSink>(out, size, sparse, hole_granularity);
}

std::unique_ptr<ImageSink> NewQcow2Sink(qcow2::ClusterTarget* writer,
                                        qcow2::ClusterCompressor* compressor,
                                        BaseContent* base,
                                        IncrementalHooks hooks) {
  return std::make_unique<Qcow2Sink>(writer, compressor, base,
                                     std::move(hooks));
}

}  // namespace e2q::image
