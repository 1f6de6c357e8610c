package admin

import (
	"encoding/json"
	"net/http"

	"go.uber.org/zap"

	"github.com/mailsift/mailsift/internal/suppress"
)

// suppressRoutes serves the suppression list ([bounces]), so that a
// website can pull it and an administrator can take an address off it:
//
//	GET  /suppress                    the suppressed addresses (JSON, as the export file)
//	GET  /suppress/lookup?address=    what is known of one address
//	POST /suppress/delete?address=    take it off the list, its counts too
//
// Each answers 404 while bounces are not read.
func suppressRoutes(mux *http.ServeMux, o Options) {
	list := func(w http.ResponseWriter) *suppress.List {
		var l *suppress.List
		if o.Suppress != nil {
			l = o.Suppress()
		}
		if l == nil {
			http.Error(w, "bounces are not read: set [bounces] addresses", http.StatusNotFound)
		}
		return l
	}
	// address returns the list and the address a request names; "" once
	// it has answered the request with an error.
	address := func(w http.ResponseWriter, r *http.Request) (*suppress.List, string) {
		l := list(w)
		if l == nil {
			return nil, ""
		}
		a := suppress.Normalize(r.URL.Query().Get("address"))
		if a == "" {
			http.Error(w, "want address, e.g. ?address=user@example.org", http.StatusBadRequest)
		}
		return l, a
	}
	mux.HandleFunc("GET /suppress", func(w http.ResponseWriter, r *http.Request) {
		l := list(w)
		if l == nil {
			return
		}
		es, err := l.All(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(suppress.Export{Generated: o.Now().UTC(), Suppressed: es})
	})
	mux.HandleFunc("GET /suppress/lookup", func(w http.ResponseWriter, r *http.Request) {
		l, a := address(w, r)
		if a == "" {
			return
		}
		e, _, err := l.Lookup(r.Context(), a)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(e)
	})
	mux.HandleFunc("POST /suppress/delete", func(w http.ResponseWriter, r *http.Request) {
		l, a := address(w, r)
		if a == "" {
			return
		}
		ok, err := l.Delete(r.Context(), a)
		fields := []zap.Field{zap.String("mailsift.admin.action", "suppress-delete"), zap.String("email.to.address", a),
			zap.String("client.address", r.RemoteAddr)}
		switch {
		case err != nil:
			o.Log.Error("suppression list change through the admin endpoint failed", append(fields, zap.Error(err))...)
			http.Error(w, err.Error(), http.StatusBadGateway)
		case !ok:
			http.Error(w, a+" is not on the list", http.StatusNotFound)
		default:
			o.Log.Info("suppression list changed through the admin endpoint", fields...)
			w.Write([]byte("ok\n"))
		}
	})
}
