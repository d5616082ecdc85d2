package fastluasession

// The mapping of an introspection answer, or of a JWT's claims, to DreamFactory's session shape
// (the table in the package documentation). One rule serves both sources; only the field that
// holds the user's id (id, sub) and the one that holds the role (role, Config.RoleClaim)
// differ. Only fields with a value of the expected kind are copied, so an absent key means
// "not given", never an empty string.

// identity is what a source verified about a credential. Its maps are shared by every session
// built from the cache and are never changed after they are made.
type identity struct {
	sessionID       string
	user, role, app map[string]any
}

// fill adds the identity to a session.
func (id *identity) fill(s map[string]any) {
	if id.sessionID != "" {
		s["session_id"] = id.sessionID
	}
	if id.user != nil {
		s["user"] = id.user
	}
	if id.role != nil {
		s["role"] = id.role
	}
	if id.app != nil {
		s["app"] = id.app
	}
}

// userFields are copied as strings; the fallbacks are OpenID Connect's names for two of them.
var userFields = []struct{ key, fallback string }{
	{"name", ""}, {"email", ""}, {"first_name", "given_name"}, {"last_name", "family_name"},
}

// fromFields maps decoded JSON (an answer or claims) to an identity; it returns errNoUser when
// no user field has a value.
func fromFields(f map[string]any, idKey, roleKey string) (*identity, error) {
	id := &identity{}
	u := f
	if nested, ok := f["user"].(map[string]any); ok {
		u = nested
		idKey = "id"
	}
	user := map[string]any{}
	if v, ok := idValue(u[idKey]); ok {
		user["id"] = v
	}
	for _, fld := range userFields {
		if s, ok := text(u[fld.key]); ok {
			user[fld.key] = s
		} else if s, ok := text(u[fld.fallback]); ok && fld.fallback != "" {
			user[fld.key] = s
		}
	}
	if len(user) == 0 {
		return nil, errNoUser
	}
	switch v := u["is_sys_admin"].(type) {
	case bool:
		user["is_sys_admin"] = v
	case float64:
		user["is_sys_admin"] = v != 0
	}
	id.user = user

	role := map[string]any{}
	switch r := f[roleKey].(type) {
	case string:
		if r != "" {
			role["name"] = r
		}
	case map[string]any:
		role = idAndName(r)
	}
	if _, ok := role["id"]; !ok {
		if v, ok := idValue(f["role_id"]); ok {
			role["id"] = v
		}
	}
	if len(role) > 0 {
		id.role = role
	}
	if a, ok := f["app"].(map[string]any); ok {
		if app := idAndName(a); len(app) > 0 {
			id.app = app
		}
	}
	id.sessionID, _ = text(f["session_id"])
	return id, nil
}

// idAndName copies the id and name of an object.
func idAndName(o map[string]any) map[string]any {
	m := map[string]any{}
	if v, ok := idValue(o["id"]); ok {
		m["id"] = v
	}
	if s, ok := text(o["name"]); ok {
		m["name"] = s
	}
	return m
}

// idValue accepts a number or a non-empty string.
func idValue(v any) (any, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case string:
		return v, v != ""
	}
	return nil, false
}

// text accepts a non-empty string.
func text(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok && s != ""
}
