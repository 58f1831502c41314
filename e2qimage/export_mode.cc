// Export mode: select the blocks, then copy them into the image.
#include "e2qimage/export_mode.h"

#include <cstdio>
#include <optional>
#include <thread>

#include "e2qimage/creation_time.h"
#include "e2qimage/inverted_export.h"
#include "e2qimage/progress.h"
#include "e2qimage/signals.h"
#include "e2qimage/snapshot_source.h"
#include "e2qimage/warning.h"
#include "lib/ext4/ext2_fs.h"
#include "lib/ext4/ext4_select.h"
#include "lib/image/backing_base.h"
#include "lib/image/base_content.h"
#include "lib/image/copy_pipeline.h"
#include "lib/image/image_sink.h"
#include "lib/image/stamp.h"
#include "lib/io/output_file.h"
#include "lib/qcow2/cluster_compressor.h"
#include "lib/qcow2/qcow2_reader.h"
#include "lib/qcow2/qcow2_writer.h"
#include "lib/scramble/scramble.h"

namespace e2q::cli {

namespace {

uint32_t Log2(uint64_t v) {
  uint32_t b = 0;
  while ((uint64_t{1} << b) < v) ++b;
  return b;
}

}  // namespace

Result<std::unique_ptr<qcow2::ClusterCompressor>> NewCompressor(
    const Options& o, uint32_t cluster_bits, qcow2::Qcow2Writer* writer) {
  return NewCompressor(o, cluster_bits, [writer](uint8_t type) {
    return writer->SetCompressionType(type);
  });
}

Result<std::unique_ptr<qcow2::ClusterCompressor>> NewCompressor(
    const Options& o, uint32_t cluster_bits,
    const std::function<Status(uint8_t)>& set_type) {
  auto algo = qcow2::ClusterCompressor::Algorithm::kDeflate;
  if (o.compress_zstd) {
    if (!qcow2::ZstdAvailable()) {
      return Status::NotSupported(
          "--compress=zstd: this e2qimage was built without libzstd");
    }
    algo = qcow2::ClusterCompressor::Algorithm::kZstd;
    E2Q_RETURN_IF_ERROR(set_type(qcow2::kCompressionZstd));
  }
  return qcow2::ClusterCompressor::Create(algo, *o.compress_level, o.threads,
                                          cluster_bits);
}

Result<uint32_t> ChooseClusterBits(const Options& o, uint64_t virtual_size,
                                   uint32_t preferred_bits) {
  std::optional<uint32_t> requested;
  if (o.cluster_size) requested = Log2(*o.cluster_size);
  auto bits = qcow2::ChooseClusterBits(virtual_size, preferred_bits, requested);
  if (!bits.ok()) {
    return bits.status().WithContext("--cluster-size=" +
                                     std::to_string(*o.cluster_size));
  }
  return bits;
}

uint32_t PreferredClusterBits(const Options& o, uint32_t block_size) {
  return o.all_data ? qcow2::kDefaultClusterBits : Log2(block_size);
}

Status RunExport(const Options& o) {
  const std::string& device_path = o.args[0];
  const std::string& image_path = o.args[1];
  if (o.export_all_snapshots) {
    if (!o.backing.empty()) {
      return Status::NotSupported(device_path +
                                  ": export: -X cannot be combined with "
                                  "--backing");
    }
    return RunExportAll(o);
  }
  const std::optional<SnapshotSpec>& spec = o.export_snapshot;
  E2Q_RETURN_IF_ERROR(ext4::CheckNotMountedReadWrite(device_path, o.force));
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> device,
                       io::OpenFileForRead(device_path));
  // With -x, everything below reads the snapshot's normalised image
  // instead of the device: selection from the snapshot's own metadata.
  // -x ID1..ID2 reads ID2 (the device itself for ID1..live).
  io::File* source = device.get();
  SnapshotSource snapshot;
  if (spec) {
    E2Q_ASSIGN_OR_RETURN(snapshot, OpenSnapshotSource(o, device.get()));
    if (snapshot.image) {
      source = snapshot.image.get();
      if (snapshot.next3->needs_recovery()) {
        Warn(device_path, snapshot.next3->RecoveryWarning());
      }
    }
  }
  ext4::Filesystem::OpenOptions fo;
  fo.superblock = o.superblock;
  fo.block_size = o.blocksize;
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<ext4::Filesystem> fs,
                       ext4::Filesystem::Open(source, fo));

  ext4::SelectOptions so;
  so.all_data = o.all_data;
  so.backup_superblock = o.superblock;
  E2Q_ASSIGN_OR_RETURN(ext4::Selection selection,
                       ext4::SelectBlocks(*fs, so));
  for (const auto& w : selection.warnings) Warn(source->name(), w);

  std::unique_ptr<scramble::Scrambler> scrambler;
  if (o.scramble) {
    E2Q_ASSIGN_OR_RETURN(scrambler, scramble::Scrambler::Create(*fs));
    for (const auto& w : scrambler->warnings()) {
      Warn(source->name(), "-s: " + w);
    }
  }

  // What the image will hold, at most: the selected blocks.
  const uint64_t expected = selection.blocks.size() * fs->block_size();
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::OutputFile> out,
                       io::OutputFile::Create(image_path, expected, o.sync));
  RegisterTempFile(out->temp_path());
  const uint64_t size = fs->byte_size();
  const uint32_t bs = fs->block_size();

  std::unique_ptr<qcow2::Qcow2Writer> writer;
  std::unique_ptr<qcow2::ClusterCompressor> compressor;
  std::unique_ptr<qcow2::Qcow2Reader> base_reader;
  std::unique_ptr<image::BaseContent> base;
  std::unique_ptr<image::ImageSink> qcow2_sink;
  std::unique_ptr<image::ImageSink> sink;
  if (o.format == OutputFormat::kQcow2) {
    E2Q_ASSIGN_OR_RETURN(
        uint32_t bits, ChooseClusterBits(o, size, PreferredClusterBits(o, bs)));
    E2Q_ASSIGN_OR_RETURN(image::Provenance record,
                         NewProvenance(o.all_data ? image::ImageKind::kFull
                                                  : image::ImageKind::kMetadata,
                                       size));
    // The state held: snapshot ID, ID2 of a range, or the live filesystem.
    const bool live = !spec || (spec->range && spec->to_live);
    record.flags = live ? image::Provenance::kFlagLive : 0;
    if (!live) {
      record.kind = image::ImageKind::kSnapshot;
      record.snapshot_ids = {spec->range ? spec->to : spec->id};
    }
    if (o.all_data) record.flags |= image::Provenance::kFlagAllData;
    if (o.scramble) record.flags |= image::Provenance::kFlagScrambled;
    record.fs_uuid = fs->uuid();
    record.label = fs->label();
    record.block_size = bs;
    record.blocks_count = fs->blocks_count();
    qcow2::WriterOptions wo;
    wo.version = o.qcow2_version;
    wo.cluster_bits = bits;
    wo.virtual_size = size;
    if (!o.backing.empty()) {
      image::BaseExpectation want;
      want.fs_uuid = fs->uuid();
      want.fs_name = fs->name();
      if (spec && spec->range) want.snapshot_id = spec->id;
      E2Q_ASSIGN_OR_RETURN(
          base_reader, image::OpenBase(image_path, o.backing, want, &record));
      base = std::make_unique<image::BaseContent>(base_reader.get(), bits);
      wo.backing_file = o.backing;
      wo.backing_format = "qcow2";
    }
    image::ReserveProvenance(record, &wo);
    E2Q_ASSIGN_OR_RETURN(writer,
                         qcow2::Qcow2Writer::Create(out->file(), wo));
    if (o.compress_level) {
      E2Q_ASSIGN_OR_RETURN(compressor, NewCompressor(o, bits, writer.get()));
    }
    qcow2_sink =
        image::NewQcow2Sink(writer.get(), compressor.get(), base.get());
    E2Q_ASSIGN_OR_RETURN(sink,
                         image::NewStampingSink(qcow2_sink.get(), writer.get(),
                                                std::move(record)));
  } else {
    sink = image::NewRawSink(out->file(), size, out->sparse(),
                             std::max(bs, 4096u));
  }

  Progress progress(o.progress, "Copying", "blocks", selection.blocks.size(),
                    bs);
  image::CopyOptions co;
  co.block_size = bs;
  E2Q_ASSIGN_OR_RETURN(co.source_size, source->Size());
  co.progress = [&](uint64_t done) { progress.Update(done); };
  if (scrambler) {
    co.transform = [&](uint64_t first, uint64_t count, uint8_t* data) {
      return scrambler->Apply(first, count, data);
    };
  }
  E2Q_ASSIGN_OR_RETURN(
      image::CopyStats stats,
      image::CopyBlocks(source, selection.blocks, sink.get(), co));
  if (stats.blocks_past_source_end > 0) {
    Warn(device_path, std::to_string(stats.blocks_past_source_end) +
                          " selected blocks lie past the end of the device "
                          "and were imaged as zeros");
  }
  E2Q_RETURN_IF_ERROR(out->Commit());
  UnregisterTempFile();
  progress.Finish();
  return Status::OK();
}

}  // namespace e2q::cli
