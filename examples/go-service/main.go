// go-service: a small HTTP service with no dependencies outside the standard
// library. GET /healthz answers "ok"; GET /time?tz=Europe/Paris answers the time
// (UTC without tz); it listens on $LISTEN (default :8080).
package main

import (
	"encoding/json"
	"log"
	"net/http"
	"os"
	"time"
	_ "time/tzdata" // the busybox image has no /usr/share/zoneinfo
)

func main() {
	addr := os.Getenv("LISTEN")
	if addr == "" {
		addr = ":8080"
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, routes()))
}

func routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/time", timeHandler)
	return mux
}

type timeReply struct {
	Zone string `json:"zone"`
	Time string `json:"time"`
}

func timeHandler(w http.ResponseWriter, r *http.Request) {
	zone := r.URL.Query().Get("tz")
	loc := time.UTC
	if zone != "" {
		l, err := time.LoadLocation(zone)
		if err != nil {
			http.Error(w, "unknown time zone "+zone, http.StatusBadRequest)
			return
		}
		loc = l
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(timeReply{Zone: loc.String(), Time: time.Now().In(loc).Format(time.RFC3339)})
}
