-- A raised table whose error member is a part of the payload (DreamFactory's error body).
error({error = event.request.payload.error})
