package metrics

import "testing"

func TestSessionRefused(t *testing.T) {
	m := New("test")
	m.SessionRefused()
	m.SessionRefused()
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "mailsift_sessions_refused_total" {
			if v := mf.GetMetric()[0].GetCounter().GetValue(); v != 2 {
				t.Fatalf("mailsift_sessions_refused_total = %v, want 2", v)
			}
			return
		}
	}
	t.Fatal("no mailsift_sessions_refused_total")
}
