// lib/base: the vocabulary every other folder uses -- Status and Result,
// big-endian codecs, BlockSet, BatchPool, IsZero.  Includes nothing else of
// the project.  Its names stay in the bare e2q namespace, as vocabulary
// types (absl's Status, leveldb's Slice) sit at the top of theirs.
//
// Status and Result<T>: how every library call reports failure.
//
// A Status carries a code and a message of the form
// "object: operation: reason" (e.g. "disk.img: read: Input/output error").
// Foreign errors (errno, errcode_t) are translated once, where they are
// received.  The library never prints; only main() turns a Status into text
// and an exit code.
#ifndef E2Q_LIB_BASE_STATUS_H_
#define E2Q_LIB_BASE_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace e2q {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // the caller asked for something impossible
  kNotFound,         // a named thing (file, snapshot) does not exist
  kNotSupported,     // valid input that this tool does not handle
  kIOError,          // the operating system failed a read, write or sync
  kCorruption,       // on-disk data violates its format
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status NotFound(std::string msg) {
    return Status(Code::kNotFound, std::move(msg));
  }
  static Status NotSupported(std::string msg) {
    return Status(Code::kNotSupported, std::move(msg));
  }
  static Status IOError(std::string msg) {
    return Status(Code::kIOError, std::move(msg));
  }
  static Status Corruption(std::string msg) {
    return Status(Code::kCorruption, std::move(msg));
  }
  // "object: operation: strerror(err)".
  static Status FromErrno(const std::string& object, const std::string& op,
                          int err);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  // The message, or "OK".
  std::string ToString() const { return ok() ? "OK" : msg_; }

  // Returns a copy whose message is prefixed with "context: ".
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + msg_);
  }

 private:
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string msg_;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok());
  }
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  T& operator*() { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace e2q

// Returns from the enclosing function if `expr` yields a non-OK Status.
#define E2Q_RETURN_IF_ERROR(expr)               \
  do {                                          \
    ::e2q::Status e2q_status_ = (expr);         \
    if (!e2q_status_.ok()) return e2q_status_;  \
  } while (0)

#define E2Q_CONCAT_INNER_(a, b) a##b
#define E2Q_CONCAT_(a, b) E2Q_CONCAT_INNER_(a, b)
#define E2Q_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

// `lhs = value of expr`, or return its Status.
#define E2Q_ASSIGN_OR_RETURN(lhs, expr) \
  E2Q_ASSIGN_OR_RETURN_IMPL_(E2Q_CONCAT_(e2q_result_, __LINE__), lhs, expr)

#endif  // E2Q_LIB_BASE_STATUS_H_
