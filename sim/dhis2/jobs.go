package dhis2

import (
	"fmt"
	"net/http"
	"time"
)

// job is an async import. It runs when it completes: immediately when
// Options.JobPolls is 0, otherwise after that many polls of its
// notifications, so tests can observe the in-progress state.
type job struct {
	id        string
	jobType   string // DATAVALUE_IMPORT, TRACKER_IMPORT_JOB
	user      string
	created   time.Time
	pollsLeft int
	run       func() any
	done      bool
	evicted   bool
	result    any
	doneAt    time.Time
	summary   string
}

// newJob registers a job; it is run at once if no polls are required.
func (s *Server) newJob(jobType, user string, run func() any) *job {
	j := &job{id: newUID(), jobType: jobType, user: user, created: s.opts.Now(), run: run}
	s.mu.Lock()
	j.pollsLeft = s.opts.JobPolls
	s.jobs[j.id] = j
	s.mu.Unlock()
	if j.pollsLeft <= 0 {
		s.completeJob(j)
	}
	return j
}

func (s *Server) completeJob(j *job) {
	// run takes s.mu itself.
	res := j.run()
	s.mu.Lock()
	j.result, j.done, j.doneAt = res, true, s.opts.Now()
	switch r := res.(type) {
	case *importSummary:
		j.summary = fmt.Sprintf("Import done. Completed with status %s, %d imported, %d updated, %d deleted, %d ignored",
			r.Status, r.ImportCount.Imported, r.ImportCount.Updated, r.ImportCount.Deleted, r.ImportCount.Ignored)
	case *importReport:
		j.summary = fmt.Sprintf("Import complete with status %s, %d created, %d updated, %d deleted, %d ignored",
			r.Status, r.Stats.Created, r.Stats.Updated, r.Stats.Deleted, r.Stats.Ignored)
	}
	s.mu.Unlock()
}

// EvictJobs forgets the results of finished jobs, as DHIS2's in-memory
// notifier eventually does: later polls and reports answer 404.
func (s *Server) EvictJobs() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range s.jobs {
		if j.done {
			j.evicted = true
		}
	}
}

// poll advances a job by one poll and tells whether it is done.
func (s *Server) poll(id, jobType string) (*job, bool) {
	s.mu.Lock()
	j := s.jobs[id]
	if j == nil || j.evicted || (jobType != "" && j.jobType != jobType) {
		s.mu.Unlock()
		return nil, false
	}
	runNow := false
	if !j.done {
		j.pollsLeft--
		runNow = j.pollsLeft <= 0
	}
	s.mu.Unlock()
	if runNow {
		s.completeJob(j)
	}
	return j, true
}

// notifications renders a job's notifications, newest first.
func (s *Server) notifications(j *job, category string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	started := map[string]any{
		"uid": uidFor(j.id + "start"), "id": uidFor(j.id + "start"), "level": "INFO", "category": category,
		"time": j.created.Format(dhisTime), "message": "Process started", "completed": false, "dataType": nil,
	}
	if !j.done {
		running := map[string]any{
			"uid": uidFor(j.id + "run"), "id": uidFor(j.id + "run"), "level": "INFO", "category": category,
			"time": j.created.Format(dhisTime), "message": "Importing data", "completed": false, "dataType": nil,
		}
		return []map[string]any{running, started}
	}
	doneN := map[string]any{
		"uid": uidFor(j.id + "done"), "id": uidFor(j.id + "done"), "level": "INFO", "category": category,
		"time": j.doneAt.Format(dhisTime), "message": j.summary, "completed": true, "dataType": nil,
	}
	return []map[string]any{doneN, started}
}

// systemTask serves /api/system/tasks/{type}/{id} and
// /api/system/taskSummaries/{type}/{id}.
func (s *Server) systemTask(rq *request, kind, jobType, id string) {
	if rq.r.Method != http.MethodGet {
		s.methodNotAllowed(rq)
		return
	}
	if kind == "tasks" {
		j, ok := s.poll(id, jobType)
		if !ok {
			// An unknown task id is an empty notification list in DHIS2.
			writeJSON(rq.w, http.StatusOK, []any{})
			return
		}
		writeJSON(rq.w, http.StatusOK, s.notifications(j, jobType))
		return
	}
	s.mu.Lock()
	j := s.jobs[id]
	var res any
	if j != nil && j.done && !j.evicted && j.jobType == jobType {
		res = j.result
	}
	s.mu.Unlock()
	if res == nil {
		writeWebMessage(rq.w, http.StatusNotFound, "ERROR", fmt.Sprintf("Summary for job with id %s does not exist", id), nil)
		return
	}
	writeJSON(rq.w, http.StatusOK, res)
}
