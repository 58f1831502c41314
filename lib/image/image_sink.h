// lib/image: what an image is made of and how it gets there -- sinks (raw,
// qcow2, digesting), the copy pipeline, base content of incremental
// images, content digests and provenance.  Namespace e2q::image; may
// include every other lib/ folder, and nothing in lib/ includes it.
//
// ImageSink: where guest content goes.  The copy pipeline hands it runs of
// bytes at increasing guest offsets; the sink turns them into a raw sparse
// file (RawSink) or a qcow2 image (Qcow2Sink).  Bytes never written read as
// zeros.
#ifndef E2Q_LIB_IMAGE_IMAGE_SINK_H_
#define E2Q_LIB_IMAGE_IMAGE_SINK_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "lib/base/status.h"
#include "lib/image/content_digest.h"
#include "lib/io/file.h"
#include "lib/qcow2/cluster_compressor.h"
#include "lib/qcow2/qcow2_cluster_target.h"

namespace e2q::image {

class BaseContent;
class ReplacedDigest;

class ImageSink {
 public:
  virtual ~ImageSink() = default;
  // `offset` must be at or past the end of the previous Write.
  virtual Status Write(uint64_t offset, const uint8_t* data, size_t len) = 0;
  // What is known of the `n` whole chunks (kDigestChunkSize bytes each)
  // from guest `offset` (a multiple of kDigestChunkSize), which the next
  // Write covers: whether each is non-zero, and its hash (the digesting
  // sink computes both).  A sink may use them instead of looking at those
  // bytes again; `slots` is not kept.  The default ignores them.
  virtual void KnowChunks(uint64_t offset, const ChunkHasher::Slot* slots,
                          size_t n) {}
  // Completes the image (size, tables).  No Write may follow.
  virtual Status Finish() = 0;
};

// Raw image of `size` bytes.  With `sparse`, all-zero stretches of at least
// `hole_granularity` bytes are skipped (left as holes) instead of written.
std::unique_ptr<ImageSink> NewRawSink(io::File* out, uint64_t size, bool sparse,
                                      uint32_t hole_granularity = 4096);

// qcow2 image (or one state of a multi-state image) through `writer` (not
// owned; a Qcow2Writer or a Qcow2MultiWriter state).  Clusters that are
// entirely zero are left unallocated.  With a non-null `compressor` (not
// owned), data clusters are compressed in batches on its threads and stored
// compressed when that saves space, in guest order, so the output does not
// depend on the number of threads; clusters the target can reuse
// (ClusterTarget::reuses_clusters) go through the same batches and are not
// compressed at all.  Finish() finishes the target.
//
// With a non-null `base` (not owned; the content of the writer's backing
// file), the image is incremental: a cluster whose content equals the
// base's is left unallocated (it reads through to the base), a cluster
// that is zero where the base is not becomes a zero cluster (version 3) or
// an explicit cluster of zeros (version 2, which has no zero clusters),
// and every other cluster is stored.  Clusters never written count as
// zeros, so the base is consulted for them too (only where it maps data).
//
// `hooks` (incremental images only): `replaced` gets the base content of
// every cluster stored (as data or zero) in increasing index, for the base
// guard (base_guard.h); `before_finish` runs after the last cluster and
// before the writer finishes, while header extensions can still be set.
struct IncrementalHooks {
  ReplacedDigest* replaced = nullptr;
  std::function<Status()> before_finish;
};
std::unique_ptr<ImageSink> NewQcow2Sink(qcow2::ClusterTarget* writer,
                                        qcow2::ClusterCompressor* compressor,
                                        BaseContent* base = nullptr,
                                        IncrementalHooks hooks = {});

}  // namespace e2q::image

#endif  // E2Q_LIB_IMAGE_IMAGE_SINK_H_
