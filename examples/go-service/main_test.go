package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthz(t *testing.T) {
	rec := httptest.NewRecorder()
	routes().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "ok\n" {
		t.Fatalf("GET /healthz: %d %q", rec.Code, rec.Body.String())
	}
}

func TestTimeUTC(t *testing.T) {
	rec := httptest.NewRecorder()
	routes().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/time", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /time: %d %q", rec.Code, rec.Body.String())
	}
}
