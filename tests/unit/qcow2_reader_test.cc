// Tests for lib/qcow2_reader; being written.
#include <gtest/gtest.h>
