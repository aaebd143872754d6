package traits_test

import (
	"testing"

	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/experiment"
)

func TestDefaultCatalogue(t *testing.T) {
	c := traits.DefaultCatalogue()
	if c.Len() < 15 {
		t.Fatalf("default catalogue has %d traits", c.Len())
	}
	for _, d := range c.Traits {
		if d.Doc == "" {
			t.Errorf("%s has no doc", d.Name)
		}
		if typ, ok := c.TypeOf("trait." + d.Name); !ok || typ != d.Type || typ == "" {
			t.Errorf("TypeOf(trait.%s) = %q, %v; want %q", d.Name, typ, ok, d.Type)
		}
	}
}

func TestParseCatalogueErrors(t *testing.T) {
	for _, tc := range []struct{ json, field string }{
		{`{"traits":[{"name":"nodot","kind":"count","events":["x"]}]}`, "traits[0].name"},
		{`{"traits":[{"name":"a.b","kind":"count","events":["x"]},{"name":"a.b","kind":"count","events":["y"]}]}`, "traits[1].name"},
		{`{"traits":[{"name":"a.b","kind":"median","events":["x"]}]}`, "traits[0].kind"},
		{`{"traits":[{"name":"a.b","kind":"count"}]}`, "traits[0].events"},
		{`{"traits":[{"name":"a.b","kind":"sum","events":["x"]}]}`, "traits[0].property"},
		{`{"traits":[{"name":"a.b","kind":"count","events":["x"],"property":"p"}]}`, "traits[0].property"},
		{`{"traits":[{"name":"a.b","kind":"count","events":["x"],"days":400}]}`, "traits[0].days"},
		{`{"traits":[{"name":"a.b","kind":"last","events":["x"],"property":"p"}]}`, "traits[0].type"},
		{`{"traits":[{"name":"a.b","kind":"top","events":["x"],"property":"p"}]}`, "traits[0].k"},
		{`{"traits":[{"name":"a.b","kind":"happened","events":["x"],"property":"p"}]}`, "traits[0].value"},
		{`{"traits":[{"name":"a.b","kind":"share","events":["x"],"property":"p"}]}`, "traits[0].values"},
		{`{"traits":[{"name":"a.b","kind":"sum","events":["x"],"property":"p","minus":["y"]}]}`, "traits[0].minus"},
		{`{"traits":[{"name":"a.b","kind":"count","events":["x"],"colour":1}]}`, "colour"},
	} {
		_, err := traits.ParseCatalogue([]byte(tc.json))
		if experiment.ErrorField(err) != tc.field {
			t.Errorf("ParseCatalogue(%s) = %v, want an error naming %s", tc.json, err, tc.field)
		}
	}
}
