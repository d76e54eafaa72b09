package conn

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestClassesWithErrorsIs: errors.Is asks an *Error for its class, through
// wrapping, as Classify does.
func TestClassesWithErrorsIs(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Class
	}{
		{&Error{Op: "retr", Code: 550, Msg: "No such file"}, ClassNotFound},
		{&Error{Op: "stor", Code: 552, Msg: "Quota exceeded"}, ClassQuota},
		{&Error{Op: "rename", Code: 553, Msg: "the target file exists"}, ClassExists},
		{&Error{Op: "mlst", Err: ClassUnsupported}, ClassUnsupported},
		{&Error{Op: "list", Err: context.DeadlineExceeded}, ClassTimeout},
		{fmt.Errorf("unlink: %w", &Error{Op: "delete", Code: 550, Msg: "Permission denied"}), ClassPermission},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
		for c := ClassOther; c <= ClassIllegalName; c++ {
			if is := errors.Is(tc.err, c); is != (c == tc.want) {
				t.Errorf("errors.Is(%v, %v) = %v", tc.err, c, is)
			}
		}
	}
}
