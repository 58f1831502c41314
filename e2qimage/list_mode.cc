// List mode: Next3::Open on the source device (source_device.h), then one
// line per snapshot, or with --output=json one object holding them.
#include "e2qimage/list_mode.h"

#include <cerrno>
#include <cstdio>
#include <memory>

#include "e2qimage/source_device.h"
#include "e2qimage/json_writer.h"
#include "lib/io/file.h"
#include "snapshot/next3.h"

namespace e2q::cli {

Status RunList(const Options& o) {
  const std::string& device_path = o.args[0];
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> device, OpenSourceDevice(o));
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<snapshot::Next3> next3,
                       snapshot::Next3::Open(device.get()));
  for (const std::string& w : next3->warnings()) {
    fprintf(stderr, "e2qimage: %s: warning: %s\n", device_path.c_str(),
            w.c_str());
  }
  if (o.json) {
    JsonWriter w;
    w.BeginObject();
    w.Key("filename").String(device_path);
    w.Key("snapshots").BeginArray();
    for (const snapshot::SnapshotInfo& s : next3->snapshots()) {
      w.BeginObject();
      w.Key("id").Uint(s.id);
      w.Key("inode").Uint(s.inode);
      w.Key("status").String(snapshot::StateName(s.state));
      // The human form's "-" for a snapshot file without a link.
      if (s.path == "-") {
        w.Key("path").Null();
      } else {
        w.Key("path").String(s.path);
      }
      w.Key("blocks-count").Uint(s.blocks_count);
      w.EndObject();
    }
    w.EndArray();
    w.Key("warnings").BeginArray();
    for (const std::string& warning : next3->warnings()) w.String(warning);
    w.EndArray();
    w.EndObject();
    fputs(w.text().c_str(), stdout);
  } else {
    for (const snapshot::SnapshotInfo& s : next3->snapshots()) {
      printf("%u %u %s %s\n", s.id, s.inode, snapshot::StateName(s.state),
             s.path.c_str());
    }
  }
  if (fflush(stdout) != 0 || ferror(stdout)) {
    return Status::FromErrno("standard output", "write", errno);
  }
  return Status::OK();
}

}  // namespace e2q::cli
