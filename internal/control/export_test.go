package control

// ClientBase returns c's base URL.
func ClientBase(c *Client) string { return c.base }
