package httpx

import (
	"errors"
	"strings"
	"testing"
)

func TestGetJSON(t *testing.T) {
	type account struct {
		Name  string `json:"name"`
		Count int    `json:"count"`
	}
	tests := []struct {
		name    string
		step    step
		out     any
		wantErr []string // substrings of the error; nil: success
		is      error
	}{
		{
			name: "odata_json_decodes",
			step: step{status: 200, header: map[string]string{"Content-Type": "application/json; odata.metadata=minimal"}, body: `{"name":"Contoso","count":3}`},
			out:  &account{},
		},
		{
			name: "html_page_with_200_is_refused_clearly",
			step: step{status: 200, header: map[string]string{"Content-Type": "text/html; charset=utf-8"}, body: "<html><head><title>Sign in</title></head>\n<body>Please log in</body></html>"},
			out:  &account{}, is: ErrNotJSON,
			wantErr: []string{"GET http://", "/accounts", "not JSON", `"text/html; charset=utf-8"`, "<title>Sign in</title>"},
		},
		{
			name:    "html_error_page_is_a_status_error",
			step:    step{status: 502, header: map[string]string{"Content-Type": "text/html"}, body: "<html><body><h1>502 Bad Gateway</h1></body></html>"},
			out:     &account{},
			wantErr: []string{"502 Bad Gateway: <html><body><h1>502 Bad Gateway</h1>"},
		},
		{
			name:    "malformed_json_names_the_position",
			step:    step{status: 200, body: "{\n  \"name\": \"Contoso\",\n  \"count\": 3,,\n}"},
			out:     &account{},
			wantErr: []string{"/accounts", "malformed JSON at line 3, column 14", "near"},
		},
		{
			name:    "wrong_type_names_the_field",
			step:    step{status: 200, body: `{"name":"Contoso","count":"three"}`},
			out:     &account{},
			wantErr: []string{"/accounts", "line 1", "count"},
		},
		{
			name:    "empty_body",
			step:    step{status: 200, body: "  "},
			out:     &account{},
			wantErr: []string{"empty body"},
		},
		{
			name:    "nil_target_is_an_error_not_a_panic",
			step:    step{status: 200, body: `{}`},
			out:     nil,
			wantErr: []string{"decode JSON"},
		},
		{
			name: "no_content_leaves_out_untouched",
			step: step{status: 204},
			out:  &account{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, tt.step)
			c, _ := newTestClient(t, b, func(o *Options) { o.MaxRetries = -1 })
			err := c.GetJSON(testContext(t), "/accounts", tt.out)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if a := tt.out.(*account); tt.step.status == 200 && *a != (account{Name: "Contoso", Count: 3}) {
					t.Errorf("decoded %+v", *a)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			for _, s := range tt.wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q\nlacks %q", err, s)
				}
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v) = false", tt.is)
			}
		})
	}
}
