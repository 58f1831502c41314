// CopyBlocks: a reader thread fills large buffers from the source while the
// calling thread transforms them and hands the selected blocks to the sink.
#include "lib/copy_pipeline.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>

namespace e2q {

namespace {

// Selected runs closer than this many bytes are read in one call; the gap
// is read and dropped.  Cheaper than a second system call for small gaps.
constexpr uint64_t kMaxGapBytes = 256 << 10;
constexpr size_t kQueueDepth = 3;

struct Chunk {
  uint64_t first = 0;               // first block in `data`
  uint64_t nblocks = 0;
  // Uninitialised, max_read_bytes long, recycled between chunks: a fresh
  // zero-filled buffer per chunk cost a memset and page faults per read.
  std::unique_ptr<uint8_t[]> data;
  std::vector<BlockRun> selected;   // runs inside [first, first + nblocks)
  uint64_t past_end = 0;            // blocks beyond the source's end
  Status status;
  bool last = false;
};

// Splits the runs into chunks of at most `max_blocks`, merging runs whose
// gap is small.
std::vector<Chunk> PlanChunks(const std::vector<BlockRun>& runs,
                              uint64_t max_blocks, uint64_t max_gap) {
  std::vector<Chunk> plan;
  Chunk cur;
  bool open = false;
  for (BlockRun r : runs) {
    while (r.count > 0) {
      if (open) {
        uint64_t end = cur.first + cur.nblocks;
        bool near = r.start - end <= max_gap;
        if (near && r.start + 1 - cur.first <= max_blocks) {
          uint64_t take = std::min(r.count, cur.first + max_blocks - r.start);
          cur.selected.push_back({r.start, take});
          cur.nblocks = r.start + take - cur.first;
          r.start += take;
          r.count -= take;
          continue;
        }
        plan.push_back(std::move(cur));
        cur = Chunk();
      }
      uint64_t take = std::min(r.count, max_blocks);
      cur.first = r.start;
      cur.nblocks = take;
      cur.selected = {{r.start, take}};
      open = true;
      r.start += take;
      r.count -= take;
    }
  }
  if (open) plan.push_back(std::move(cur));
  return plan;
}

class Queue {
 public:
  // Buffers of consumed chunks, handed back to the reader.
  void Recycle(std::unique_ptr<uint8_t[]> buf) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(buf));
  }
  std::unique_ptr<uint8_t[]> TakeBuffer(size_t size) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        auto buf = std::move(free_.back());
        free_.pop_back();
        return buf;
      }
    }
    return std::unique_ptr<uint8_t[]>(new uint8_t[size]);
  }

  void Push(Chunk c) {
    std::unique_lock<std::mutex> lock(mu_);
    not_full_.wait(lock, [&] { return q_.size() < kQueueDepth || stop_; });
    q_.push_back(std::move(c));
    not_empty_.notify_one();
  }
  Chunk Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    not_empty_.wait(lock, [&] { return !q_.empty(); });
    Chunk c = std::move(q_.front());
    q_.pop_front();
    not_full_.notify_one();
    return c;
  }
  // Lets a blocked producer finish: the consumer stopped early.
  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    not_full_.notify_all();
  }
  bool stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  }

 private:
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<Chunk> q_;
  std::vector<std::unique_ptr<uint8_t[]>> free_;
  bool stop_ = false;
};

Status ReadChunk(File* source, const CopyOptions& o, Chunk* c) {
  const uint64_t bs = o.block_size;
  uint64_t off = c->first * bs;
  uint64_t want = c->nblocks * bs;
  uint64_t have = 0;
  if (off < o.source_size) have = std::min(want, o.source_size - off);
  uint64_t got = 0;
  while (got < have) {
    E2Q_ASSIGN_OR_RETURN(size_t n, source->ReadSome(off + got,
                                                    c->data.get() + got,
                                                    have - got));
    if (n == 0) break;  // the source ended early
    got += n;
  }
  if (got < want) {
    std::memset(c->data.get() + got, 0, want - got);
    uint64_t first_missing = c->first + got / bs;
    for (const auto& r : c->selected) {
      uint64_t end = r.start + r.count;
      if (end > first_missing) {
        c->past_end += end - std::max(r.start, first_missing);
      }
    }
  }
  return Status::OK();
}

}  // namespace

Result<CopyStats> CopyBlocks(File* source, const BlockSet& blocks,
                             ImageSink* sink, const CopyOptions& options) {
  const uint64_t bs = options.block_size;
  if (bs == 0 || options.max_read_bytes < bs) {
    return Status::InvalidArgument("copy: block size and read size invalid");
  }
  std::vector<Chunk> plan = PlanChunks(
      blocks.Runs(), options.max_read_bytes / bs, kMaxGapBytes / bs);
  Queue queue;
  const uint64_t max_bytes = options.max_read_bytes / bs * bs;
  std::thread reader([&] {
    for (size_t i = 0; i < plan.size(); ++i) {
      if (queue.stopped()) return;
      Chunk c = std::move(plan[i]);
      c.data = queue.TakeBuffer(c.nblocks * bs > max_bytes ? c.nblocks * bs
                                                           : max_bytes);
      c.status = ReadChunk(source, options, &c);
      c.last = i + 1 == plan.size() || !c.status.ok();
      bool stop = c.last;
      queue.Push(std::move(c));
      if (stop) return;
    }
  });

  CopyStats stats;
  Status status;
  uint64_t done = 0;
  while (!plan.empty()) {
    Chunk c = queue.Pop();
    if (!c.status.ok()) {
      status = c.status;
      break;
    }
    stats.bytes_read += c.nblocks * bs;
    stats.blocks_past_source_end += c.past_end;
    for (const auto& r : c.selected) {
      uint8_t* p = c.data.get() + (r.start - c.first) * bs;
      if (options.transform) {
        status = options.transform(r.start, r.count, p);
        if (!status.ok()) break;
      }
      status = sink->Write(r.start * bs, p, r.count * bs);
      if (!status.ok()) break;
      done += r.count;
    }
    if (!status.ok()) break;
    if (options.progress) options.progress(done);
    if (c.last) break;
    queue.Recycle(std::move(c.data));
  }
  queue.Stop();
  reader.join();
  E2Q_RETURN_IF_ERROR(status);
  stats.blocks_read = done;
  E2Q_RETURN_IF_ERROR(sink->Finish());
  return stats;
}

}  // namespace e2q
