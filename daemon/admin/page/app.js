// trêve admin page
