package bench

import (
	_ "github.com/alexedwards/scs/v2"
	_ "github.com/deployedworks/rampart/clientip"
	_ "github.com/didip/tollbooth/v7"
	_ "github.com/go-chi/httprate"
	_ "github.com/gorilla/csrf"
	_ "github.com/gorilla/sessions"
	_ "github.com/sethvargo/go-limiter/memorystore"
	_ "github.com/stretchr/testify/require"
	_ "github.com/ulule/limiter/v3"
	_ "github.com/ulule/limiter/v3/drivers/store/memory"
	_ "github.com/unrolled/secure"
)
