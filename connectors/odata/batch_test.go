package odata

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/synchub/synchub/sdk/httpx"
)

func crlf(b []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

// boundaryOf reads the boundary from a body's first delimiter line.
func boundaryOf(body []byte) string {
	first, _, _ := strings.Cut(string(body), "\r\n")
	return strings.TrimPrefix(first, "--")
}

func TestDocumentedBatchAnswersParse(t *testing.T) {
	t.Run("a_change_set_and_a_get", func(t *testing.T) {
		body := crlf(fixture(t, "batch-response-changeset.txt"))
		var b Batch
		b.AddChangeSet(
			BatchRequest{Method: "POST", URL: "/api/data/v9.2/tasks", Body: []byte(`{"subject":"Task 1 in batch"}`)},
			BatchRequest{Method: "POST", URL: "/api/data/v9.2/tasks", Body: []byte(`{"subject":"Task 2 in batch"}`)},
			BatchRequest{Method: "POST", URL: "/api/data/v9.2/tasks", Body: []byte(`{"subject":"Task 3 in batch"}`)})
		b.Add(BatchRequest{Method: "GET", URL: "/api/data/v9.2/tasks?$select=subject"})
		res, err := ReadBatch("multipart/mixed; boundary="+boundaryOf(body), bytes.NewReader(body), &b)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []string{"e73ffc82", "e83ffc82", "e93ffc82"} {
			if res[i].Status != 204 || !strings.Contains(res[i].Header.Get("OData-EntityId"), want) {
				t.Errorf("create %d answered %d %v", i+1, res[i].Status, res[i].Header)
			}
		}
		info, err := DecodePage(bytes.NewReader(res[3].Body), func(Row) error { return nil })
		if res[3].Status != 200 || err != nil || info.Rows != 3 {
			t.Errorf("the GET answered %d with %d rows (%v)", res[3].Status, info.Rows, err)
		}
	})
	t.Run("continue_on_error_answers_every_request", func(t *testing.T) {
		body := crlf(fixture(t, "batch-response-continue-on-error.txt"))
		var b Batch
		for i := 0; i < 3; i++ {
			b.Add(BatchRequest{Method: "POST", URL: "/api/data/v9.2/tasks", Body: []byte(`{}`)})
		}
		res, err := ReadBatch("multipart/mixed; boundary="+boundaryOf(body), bytes.NewReader(body), &b)
		if err != nil {
			t.Fatal(err)
		}
		e := ParseError(res[0].Status, res[0].Body)
		if res[0].Status != 400 || e.Code != "0x80044331" || !strings.Contains(e.Message, "maximum allowed length") {
			t.Errorf("the failed part: %d %+v", res[0].Status, e)
		}
		if res[1].Status != 204 || res[2].Status != 204 {
			t.Errorf("the other parts: %d %d, want 204 204", res[1].Status, res[2].Status)
		}
	})
}

func TestBatchWriting(t *testing.T) {
	var b Batch
	first := b.AddChangeSet(
		BatchRequest{Method: "POST", URL: "/api/data/v9.2/accounts", Header: http.Header{"Prefer": {"return=representation"}}, Body: []byte(`{"name":"a"}`)},
		BatchRequest{Method: "POST", URL: "/api/data/v9.2/contacts", Body: []byte(`{"lastname":"b","parentcustomerid_account@odata.bind":"$1"}`)})
	get := b.Add(BatchRequest{Method: "GET", URL: "/api/data/v9.2/accounts?$select=name"})
	if first != 0 || get != 2 || b.Ref(first) != "$1" || b.Len() != 3 {
		t.Fatalf("indexes %d %d, ref %q, len %d", first, get, b.Ref(first), b.Len())
	}
	var buf bytes.Buffer
	ct, err := b.Write(&buf)
	if err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	if strings.Contains(strings.ReplaceAll(text, "\r\n", ""), "\n") {
		t.Fatalf("a line ends without CR:\n%s", text)
	}
	for _, want := range []string{
		"Content-Type: multipart/mixed; boundary=changeset_",
		"Content-ID: 1\r\n\r\nPOST /api/data/v9.2/accounts HTTP/1.1\r\nContent-Type: application/json\r\nPrefer: return=representation\r\n\r\n{\"name\":\"a\"}\r\n",
		"Content-ID: 2\r\n",
		"Content-Transfer-Encoding: binary\r\n\r\nGET /api/data/v9.2/accounts?$select=name HTTP/1.1\r\n\r\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the body lacks %q:\n%s", want, text)
		}
	}
	// The body is well-formed multipart with a nested change set.
	_, params, _ := mime.ParseMediaType(ct)
	mr := multipart.NewReader(strings.NewReader(text), params["boundary"])
	var kinds []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, strings.SplitN(p.Header.Get("Content-Type"), ";", 2)[0])
	}
	if strings.Join(kinds, ",") != "multipart/mixed,application/http" {
		t.Errorf("parts %v", kinds)
	}
	var dup Batch
	dup.AddChangeSet(BatchRequest{Method: "POST", URL: "/x", ContentID: "2"}, BatchRequest{Method: "POST", URL: "/y"})
	if _, err := dup.Write(io.Discard); err == nil {
		t.Error("a Content-ID used twice was written")
	}
}

// answer builds a batch answer from parts written as raw text.
func answer(boundary string, parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		b.WriteString("--" + boundary + "\r\n" + p + "\r\n")
	}
	b.WriteString("--" + boundary + "--\r\n")
	return b.String()
}

func httpPart(contentID, status, body string) string {
	h := "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
	if contentID != "" {
		h += "Content-ID: " + contentID + "\r\n"
	}
	h += "\r\nHTTP/1.1 " + status + "\r\n"
	if body != "" {
		h += "Content-Type: application/json\r\n"
	}
	return h + "\r\n" + body
}

func TestFailedChangeSetsAreAccountedRequestByRequest(t *testing.T) {
	twoSets := func() *Batch {
		var b Batch
		b.AddChangeSet(BatchRequest{Method: "POST", URL: "/a"}, BatchRequest{Method: "PATCH", URL: "/b"})
		b.AddChangeSet(BatchRequest{Method: "DELETE", URL: "/c"})
		return &b
	}
	notFound := `{"error":{"code":"0x80040217","message":"account With Id = x Does Not Exist"}}`
	for _, tc := range []struct {
		name     string
		body     string
		statuses []int
		whole    []bool
	}{
		{"a_failure_naming_its_request_leaves_the_others_not_executed",
			answer("b", httpPart("2", "404 Not Found", notFound), httpPart("", "204 No Content", "")),
			[]int{424, 404, 204}, []bool{false, false, false}},
		{"a_failure_naming_no_request_stands_for_the_whole_set",
			answer("b", httpPart("", "404 Not Found", notFound), httpPart("", "204 No Content", "")),
			[]int{404, 404, 204}, []bool{true, true, false}},
		{"a_batch_stopped_at_a_failure_leaves_the_rest_not_executed",
			answer("b", httpPart("", "412 Precondition Failed", `{"error":{"code":"","message":"stale"}}`)),
			[]int{412, 412, 424}, []bool{true, true, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := ReadBatch("multipart/mixed; boundary=b", strings.NewReader(tc.body), twoSets())
			if err != nil {
				t.Fatal(err)
			}
			for i := range res {
				if res[i].Status != tc.statuses[i] || res[i].SetFailure != tc.whole[i] {
					t.Errorf("request %d: %d (set failure %v), want %d (%v)", i, res[i].Status, res[i].SetFailure, tc.statuses[i], tc.whole[i])
				}
			}
		})
	}
	t.Run("a_change_set_answer_missing_a_request_is_an_error", func(t *testing.T) {
		body := answer("b", "Content-Type: multipart/mixed; boundary=cs\r\n\r\n"+answer("cs", httpPart("1", "204 No Content", "")))
		if _, err := ReadBatch("multipart/mixed; boundary=b", strings.NewReader(body), twoSets()); err == nil {
			t.Error("an incomplete change set answer was accepted")
		}
	})
	t.Run("garbage_is_an_error_not_a_panic", func(t *testing.T) {
		for _, body := range []string{"", "<html>oops</html>", answer("b", "Content-Type: application/http\r\n\r\nnot http")} {
			if _, err := ReadBatch("multipart/mixed; boundary=b", strings.NewReader(body), twoSets()); err == nil {
				t.Errorf("ReadBatch(%q) succeeded", body)
			}
		}
		if _, err := ReadBatch("text/html", strings.NewReader("<html/>"), twoSets()); err == nil {
			t.Error("an HTML answer was accepted")
		}
	})
}

func TestDoBatchReadsTheBatchLevel400(t *testing.T) {
	var prefer string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		prefer = r.Header.Get("Prefer")
		w.Header().Set("Content-Type", "multipart/mixed; boundary=batchresponse_1")
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, answer("batchresponse_1",
			httpPart("", "204 No Content", ""),
			httpPart("", "400 Bad Request", `{"error":{"code":"0x80044331","message":"too long"}}`)))
	}))
	defer srv.Close()
	var b Batch
	for i := 0; i < 3; i++ {
		b.Add(BatchRequest{Method: "DELETE", URL: fmt.Sprintf("/api/data/v9.2/accounts(%d)", i)})
	}
	res, err := DoBatch(context.Background(), httpx.New(httpx.Options{BaseURL: srv.URL}), srv.URL+"/api/data/v9.2/$batch", &b, Prefer{})
	if err != nil {
		t.Fatal(err)
	}
	if prefer != "" {
		t.Errorf("Prefer %q sent, want none", prefer)
	}
	if res[0].Status != 204 || res[1].Status != 400 || res[2].Status != StatusNotExecuted {
		t.Errorf("statuses %d %d %d, want 204 400 424", res[0].Status, res[1].Status, res[2].Status)
	}
}
