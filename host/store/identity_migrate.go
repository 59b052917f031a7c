package store

import "gorm.io/gorm"

// Frozen struct of 2026120601_identity_login: the login a user's identity
// was resolved from, so that a login the back end cannot be asked about
// for a while keeps the identity it last resolved to, and only while the
// config still names the same login.

type v4UserIdentity struct {
	Login string `gorm:"size:320;not null;default:''"`
}

func (v4UserIdentity) TableName() string { return "user_identities" }

func migrateIdentityLogin(tx *gorm.DB) error {
	return tx.Migrator().AddColumn(&v4UserIdentity{}, "Login")
}

func rollbackIdentityLogin(tx *gorm.DB) error {
	return tx.Migrator().DropColumn(&v4UserIdentity{}, "Login")
}
