// Status helpers that need more than the header.
#include "lib/base/status.h"

#include <cerrno>
#include <cstring>

namespace e2q {

Status Status::FromErrno(const std::string& object, const std::string& op,
                         int err) {
  Code code = Code::kIOError;
  if (err == ENOENT) code = Code::kNotFound;
  if (err == EINVAL) code = Code::kInvalidArgument;
  Status s;
  s.code_ = code;
  s.msg_ = object + ": " + op + ": " + std::strerror(err);
  return s;
}

}  // namespace e2q
