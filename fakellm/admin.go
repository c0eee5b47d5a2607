package fakellm

import (
	"io"
	"net/http"
)

// serveAdmin answers the admin endpoints:
//
//	GET    /_fake/requests  the recorded requests, a JSON list of Recorded
//	DELETE /_fake/requests  Reset
//	GET    /_fake/faults    what is left of the schedule (ScheduleState)
//	POST   /_fake/faults    replace the schedule (ParseSchedule's body)
//	DELETE /_fake/faults    ClearFaults
//	GET, POST, DELETE /_fake/usage  the usage answers report (usage.go)
//
// Admin requests are never recorded and never faulted.
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path[len(AdminPrefix):] {
	case "requests":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, mustJSON(s.Requests()))
		case http.MethodDelete:
			s.Reset()
			w.WriteHeader(http.StatusNoContent)
		default:
			adminError(w, http.StatusMethodNotAllowed, "use GET or DELETE")
		}
	case "faults":
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, mustJSON(s.Faults()))
		case http.MethodPost, http.MethodPut:
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
			if err != nil {
				adminError(w, http.StatusBadRequest, err.Error())
				return
			}
			sch, err := ParseSchedule(body)
			if err == nil {
				err = s.SetFaults(sch)
			}
			if err != nil {
				adminError(w, http.StatusBadRequest, err.Error())
				return
			}
			writeJSON(w, http.StatusOK, mustJSON(s.Faults()))
		case http.MethodDelete:
			s.ClearFaults()
			w.WriteHeader(http.StatusNoContent)
		default:
			adminError(w, http.StatusMethodNotAllowed, "use GET, POST or DELETE")
		}
	case "usage":
		s.serveUsage(w, r) // usage.go
	default:
		adminError(w, http.StatusNotFound, "no admin endpoint "+r.URL.Path)
	}
}

func adminError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, mustJSON(map[string]string{"error": msg}))
}
