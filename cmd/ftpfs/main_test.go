package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := dispatch(context.Background(), nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "serve") {
		t.Errorf("no args: exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := dispatch(context.Background(), []string{"frobnicate"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "frobnicate") {
		t.Errorf("unknown command: exit %d, stderr %q", code, errOut.String())
	}
	if code := dispatch(context.Background(), []string{"help"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "serve [flags] DIR") {
		t.Errorf("help: exit %d, stdout %q", code, out.String())
	}
	out.Reset()
	if code := dispatch(context.Background(), []string{"help", "mount"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "--dir-cache-ttl") || strings.Contains(out.String(), "serve [flags] DIR") {
		t.Errorf("help mount: exit %d, stdout %q; want mount's own help", code, out.String())
	}
}
