// CopyPipeline: copies selected block runs from a source File to an
// ImageSink in large sequential reads on a reader thread (a second one once
// reads wait for the device), so that reading the device and writing the
// image overlap.  Runs are coalesced into reads of up to `max_read_bytes`;
// no call is made per block.  Blocks in holes of the source
// (File::StretchAt) are neither read nor written: a sink's unwritten bytes
// read as zeros.
#ifndef E2Q_LIB_IMAGE_COPY_PIPELINE_H_
#define E2Q_LIB_IMAGE_COPY_PIPELINE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lib/base/block_set.h"
#include "lib/base/status.h"
#include "lib/image/image_sink.h"
#include "lib/io/file.h"

namespace e2q::image {

// Rewrites the content of blocks [first, first + count) in place before
// they reach the sink (used by -s to scramble names).  `data` holds
// count * block_size bytes.
using BlockTransform =
    std::function<Status(uint64_t first, uint64_t count, uint8_t* data)>;

struct CopyOptions {
  uint32_t block_size = 4096;
  uint64_t max_read_bytes = 2 << 20;
  // Size of the source; blocks at or past it read as zeros and are counted
  // in CopyStats::blocks_past_source_end (a truncated device or image).
  uint64_t source_size = UINT64_MAX;
  BlockTransform transform;  // optional
  // Called after each read with the number of blocks done so far.
  std::function<void(uint64_t blocks_done)> progress;
  // Optional: shown the bytes of the selected blocks [first, first +
  // count) as read from the source, before the transform (blocks in the
  // source's holes are not shown, or as zeros when there is a transform).
  // Called on the reading threads, in no fixed order: must be thread-safe.
  std::function<void(uint64_t first, uint64_t count, const uint8_t* data)>
      inspect;
};

struct CopyStats {
  uint64_t blocks_read = 0;
  uint64_t bytes_read = 0;
  uint64_t blocks_past_source_end = 0;
  // Bytes of the read buffers whose pages were ever touched: buffers are
  // as long as the largest chunk, and touched only as far as reads (or a
  // transform's zeros) reach into them, so holes of the source cost no
  // memory.
  uint64_t buffer_bytes_touched = 0;
};

// Copies every block in `blocks` from `source` (block b at byte b *
// block_size) to the same guest offset in `sink`, then calls
// sink->Finish().
Result<CopyStats> CopyBlocks(io::File* source, const BlockSet& blocks,
                             ImageSink* sink, const CopyOptions& options);

}  // namespace e2q::image

#endif  // E2Q_LIB_IMAGE_COPY_PIPELINE_H_
